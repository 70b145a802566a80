# CLIP ViT-B/16 on every benchmark but VisDA. Paper: lr 3e-6, task head lr
# x1e3 (upstream configs: multiple_lr_classifier 1000), RST tau 1e-6.
lr = 3e-6
head_lr_mult = 1e3
rst_tau = 1e-6  # used by configs/rst (RSTHook)
