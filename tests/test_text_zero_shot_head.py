import open_clip
import pytest
import torch
import torch.nn.functional as F

from mmvlpuda.models import TextZeroShotHead
from mmvlpuda.models.heads import format_prompts


def _reference_text_features(prompts):
    torch.manual_seed(0)
    clip = open_clip.create_model('mmvlpuda-tiny-rn')
    tok = open_clip.get_tokenizer('mmvlpuda-tiny-rn')
    with torch.no_grad():
        return clip, F.normalize(clip.encode_text(tok(prompts)), dim=-1)


def test_single_template_matches_open_clip_text_encoder():
    torch.manual_seed(0)
    head = TextZeroShotHead(['Alarm_Clock', 'TV'],
                            'a photo of a {}.',
                            arch='mmvlpuda-tiny-rn')
    clip, ref = _reference_text_features(
        ['a photo of a alarm clock.', 'a photo of a tv.'])
    assert torch.allclose(head.text_features, ref, atol=1e-5)
    assert torch.allclose(head.logit_scale, clip.logit_scale.exp())


def test_prompt_ensembling_averages_normalised_embeddings():
    torch.manual_seed(0)
    head = TextZeroShotHead(['cat'], ['a photo of a {}.', 'a sketch of a {}.'],
                            arch='mmvlpuda-tiny-rn')
    _, ref = _reference_text_features(
        ['a photo of a cat.', 'a sketch of a cat.'])
    expected = F.normalize(ref.mean(0, keepdim=True), dim=-1)
    assert torch.allclose(head.text_features, expected, atol=1e-5)


def test_logits_are_scaled_cosine_similarities():
    head = TextZeroShotHead(['a', 'b', 'c'], arch='mmvlpuda-tiny-rn')
    feats = torch.randn(4, 32)
    logits = head(feats * 7.0)  # scale of the features must not matter
    cos = F.normalize(feats, dim=-1) @ head.text_features.t()
    assert torch.allclose(logits, head.logit_scale * cos, atol=1e-5)
    assert head.num_classes == 3


def test_text_tower_is_released_and_not_checkpointed():
    head = TextZeroShotHead(['a', 'b'], arch='mmvlpuda-tiny-rn')
    assert list(head.parameters()) == []
    assert head.state_dict() == {}
    assert not any('transformer' in n for n, _ in head.named_modules())


def test_prompts_keep_class_order_and_need_placeholder():
    assert format_prompts(['b', 'a'], ['x {}', '{} y']) == [['x b', 'b y'],
                                                            ['x a', 'a y']]
    with pytest.raises(ValueError, match='templates'):
        TextZeroShotHead(['a'], 'no placeholder', arch='mmvlpuda-tiny-rn')
    with pytest.raises(ValueError, match='classnames'):
        TextZeroShotHead([], arch='mmvlpuda-tiny-rn')


# ------------------------------------------------------------ prompt names
#
# upstream.md §9 (Wenlve-Zhou/VLP-UDA models/backbone.py, hard-coded prompt
# lists): Office-31 uses "a photo of a {name}" and its list "starts with
# `backpack` (folder `back_pack`), then `bike`, `bike helmet`, `bookcase`,
# …, `trash can`"; the other names are the folder names lower-cased with
# '_' -> ' '.


def test_prompt_names_override_some_or_all_classes():
    from mmvlpuda.models.heads.text_zero_shot_head import prompt_class_names
    classes = ['back_pack', 'bike_helmet', 'TV']
    assert prompt_class_names(classes) == ['back pack', 'bike helmet', 'tv']
    assert prompt_class_names(classes, dict(back_pack='backpack')) == [
        'backpack', 'bike helmet', 'tv'
    ]
    assert prompt_class_names(classes, ['a', 'B_c', 'd']) == ['a', 'B_c', 'd']
    for bad, word in [(dict(backpack='x'), 'backpack'), (['a'], '1 names'),
                      ('backpack', 'string')]:
        with pytest.raises((ValueError, TypeError), match=word) as err:
            prompt_class_names(classes, bad)
        assert '\n' not in str(err.value)


def test_prompt_names_reach_the_text_features():
    torch.manual_seed(0)
    head = TextZeroShotHead(['back_pack', 'bike'],
                            'a photo of a {}',
                            arch='mmvlpuda-tiny-rn',
                            prompt_names=dict(back_pack='backpack'))
    assert head.prompts == [['a photo of a backpack'], ['a photo of a bike']]
    assert head.classnames == ['back_pack', 'bike']  # labels unchanged
    _, ref = _reference_text_features(
        ['a photo of a backpack', 'a photo of a bike'])
    assert torch.allclose(head.text_features, ref, atol=1e-5)


def test_office31_configs_prompt_backpack():
    """Every Office-31 config (cmkd, FixMatch, RST, source-only, zero-shot;
    all backbones) prompts class 0 as the official code does."""
    import glob
    import os.path as osp

    from conftest import REPO_ROOT
    from mmvlpuda.models.heads.text_zero_shot_head import prompt_class_names
    from mmvlpuda.utils import load_config
    paths = sorted(
        glob.glob(osp.join(REPO_ROOT, 'configs', '*', 'office31_*.py')))
    assert len(paths) == 15
    for path in paths:
        head = load_config(path).model.text_head
        names = prompt_class_names(head.classnames, head.get('prompt_names'))
        prompts = format_prompts(names, head.templates)
        assert prompts[0] == ['a photo of a backpack'], path
        assert prompts[1:4] == [['a photo of a bike'],
                                ['a photo of a bike helmet'],
                                ['a photo of a bookcase']], path
        assert prompts[-1] == ['a photo of a trash can'], path
        assert head.classnames[0] == 'back_pack'  # folder name, label 0
