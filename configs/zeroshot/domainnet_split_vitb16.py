# CLIP zero-shot, DomainNet, CLIP ViT-B/16, standard protocol: the official
# split files (source and target <domain>_train.txt for training, target
# <domain>_test.txt for evaluation). Whole domain folders, as the official
# code and the paper's numbers: ./domainnet_vitb16.py.
# Train-free: python tools/test.py configs/zeroshot/domainnet_split_vitb16.py
_base_ = './domainnet_vitb16.py'

data_layout = 'list'
