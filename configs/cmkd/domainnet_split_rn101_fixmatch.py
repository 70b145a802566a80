# CMKD + FixMatch, DomainNet, CLIP RN101, standard protocol: the official
# split files (source and target <domain>_train.txt for training, target
# <domain>_test.txt for evaluation). Whole domain folders, as the official
# code and the paper's numbers: ./domainnet_rn101_fixmatch.py.
_base_ = './domainnet_rn101_fixmatch.py'

data_layout = 'list'
