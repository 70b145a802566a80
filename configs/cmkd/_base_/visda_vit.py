# CLIP ViT-B/16 on VisDA-2017. Paper and upstream configs/visda.yaml:
# lr 3e-7 (head x1e3 kept), RST tau 1e-7 (App. A).
_base_ = ['./vit.py']
lr = 3e-7
rst_tau = 1e-7
