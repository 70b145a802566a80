# CLIP student + frozen text teacher. Top-level keys referenced here:
#   arch               open_clip name ('RN50', 'RN101', 'ViT-B-16'); the grid
#                      sets it in configs/cmkd/_base_/{rn50,rn101,vitb16}.py
#   classes, templates from the benchmark (dataset) config
# The backbone is whatever `arch` says (RN50, RN101, ViT-B-16, ...).
model = dict(
    type='CMKDClassifier',
    backbone=dict(
        type='CLIPVisualBackbone',
        arch='${arch}',
        pretrained='openai',
        # QuickGELU (OpenAI CLIP) or nn.GELU; None = automatic: True for the
        # 'openai' tag and for OpenAI weight files (TorchScript archive /
        # OpenAI state dict); a plain state dict needs it set explicitly.
        # The text head inherits it (and `pretrained`) from here.
        quick_gelu=None,
        norm_eval=True),
    task_head=dict(type='TaskHead'),
    text_head=dict(
        type='TextZeroShotHead',
        classnames='${classes}',
        templates='${templates}'),
    cmkd_loss=dict(
        type='CMKDLoss',
        variant='upstream',
        lambda1=0.25,
        lambda2=0.1,
        lambda3=0.025,
        ramp_iters=10000),
    label_smoothing=0.1,
    predict_head='task',
    data_preprocessor=dict(
        type='UDADataPreprocessor',
        preprocessor=dict(
            type='mmpretrain.ClsDataPreprocessor',
            mean=[122.770938, 116.7460125, 104.09373615],
            std=[68.5005327, 66.6321579, 70.32316305],
            to_rgb=True)))
