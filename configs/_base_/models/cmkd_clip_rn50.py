# CLIP RN50 student + frozen text teacher (classes/templates come from the
# benchmark config through ${...} references).
model = dict(
    type='CMKDClassifier',
    backbone=dict(
        type='CLIPVisualBackbone',
        arch='RN50',
        pretrained='openai',
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
