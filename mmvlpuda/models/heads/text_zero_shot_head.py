from typing import Mapping, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmvlpuda.registry import MODELS
from ..utils.open_clip_loader import create_open_clip, resolve_arch


def format_prompts(classnames: Sequence[str],
                   templates: Sequence[str]) -> list:
    """Fill each template with each class name: ``[[t.format(c) for t] for
    c]``. Raises a one-line error for a template without ``{}``."""
    for t in templates:
        if '{}' not in t:
            raise ValueError(f"prompt template {t!r} has no '{{}}' "
                             'placeholder (key `templates`)')
    return [[t.format(c) for t in templates] for c in classnames]


def prompt_class_names(classnames: Sequence[str],
                       prompt_names: Union[Mapping[str, str], Sequence[str],
                                           None] = None,
                       lowercase: bool = True) -> list:
    """The names that fill the prompt templates, in label order.

    Each class name is lower-cased with ``_`` turned into a space
    (``lowercase=True``, official code behaviour), unless ``prompt_names``
    gives its prompt name verbatim: a mapping ``{class name: prompt name}``
    for some classes (e.g. ``dict(back_pack='backpack')``), or a list with
    one prompt name per class. Unknown class names or a list of the wrong
    length raise a one-line error.
    """
    names = [
        c.replace('_', ' ').lower() if lowercase else c for c in classnames
    ]
    if prompt_names is None:
        return names
    if isinstance(prompt_names, Mapping):
        unknown = sorted(set(prompt_names) - set(classnames))
        if unknown:
            raise ValueError(f'`prompt_names` has class name(s) {unknown} '
                             'that are not in `classnames`')
        return [
            str(prompt_names[c]) if c in prompt_names else n
            for c, n in zip(classnames, names)
        ]
    if isinstance(prompt_names, str):
        raise TypeError(f'`prompt_names` must be a dict {{class name: prompt '
                        f'name}} or a list, got the string {prompt_names!r}')
    prompt_names = [str(n) for n in prompt_names]
    if len(prompt_names) != len(names):
        raise ValueError(f'`prompt_names` has {len(prompt_names)} names but '
                         f'`classnames` has {len(names)}')
    return prompt_names


@MODELS.register_module()
class TextZeroShotHead(BaseModule):
    """CLIP zero-shot classifier: frozen text embeddings of class prompts.

    The prompts are encoded ONCE at construction by the text tower of the
    open_clip model ``arch``/``pretrained`` (the same model the image
    backbone comes from); embeddings of several templates are averaged
    (prompt ensembling). The text tower is then released, so it never
    appears in the model or its checkpoints. Logits are
    ``logit_scale * cos(image_features, text_features)`` (paper Eq. (2)).

    Args:
        classnames (Sequence[str]): class names in label order. Usually the
            dataset's ``classes`` (configs pass the same list to both).
        templates (str | Sequence[str]): prompt template(s) with ``{}``,
            e.g. ``'a photo of a {}.'``. Defaults to ``'a photo of a {}.'``.
        arch (str): open_clip model name or JSON config. Defaults to 'RN50'.
        pretrained (str, optional): open_clip tag or local weight file.
            Defaults to None.
        quick_gelu (bool, optional): see :class:`CLIPVisualBackbone`.
        lowercase (bool): lower-case names and turn ``_`` into spaces before
            filling the templates (official code behaviour).
            Defaults to True.
        prompt_names (dict | Sequence[str], optional): the name to put in
            the prompts instead of the (lower-cased) class name, verbatim:
            ``{class name: prompt name}`` for some classes, or one name per
            class in label order, e.g. Office-31's
            ``dict(back_pack='backpack')`` (the official prompt list has
            "backpack" for folder ``back_pack``). Labels and ``classnames``
            are unchanged. Defaults to None.
        init_cfg (dict, optional): Defaults to None.

    Example:
        >>> head = dict(type='TextZeroShotHead', arch='RN50',
        ...             pretrained='openai', classnames=['cat', 'dog'],
        ...             templates=['a photo of a {}.', 'a sketch of a {}.'])
    """

    def __init__(self,
                 classnames: Sequence[str],
                 templates: Union[str, Sequence[str]] = 'a photo of a {}.',
                 arch: str = 'RN50',
                 pretrained: Optional[str] = None,
                 quick_gelu: Optional[bool] = None,
                 lowercase: bool = True,
                 prompt_names: Union[Mapping[str, str], Sequence[str],
                                     None] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(templates, str):
            templates = [templates]
        if not classnames:
            raise ValueError('TextZeroShotHead needs a non-empty `classnames`')
        self.classnames = list(classnames)
        self.templates = list(templates)
        names = prompt_class_names(self.classnames, prompt_names, lowercase)
        prompts = format_prompts(names, self.templates)
        self.prompts = prompts  # per class, per template (for inspection)
        clip = create_open_clip(arch, pretrained, quick_gelu)
        text_features = self._encode(clip, arch, prompts)
        logit_scale = clip.logit_scale.detach().exp().clone()
        del clip  # release the text (and image) towers
        self.register_buffer('text_features', text_features, persistent=False)
        self.register_buffer('logit_scale', logit_scale, persistent=False)

    @property
    def num_classes(self) -> int:
        return self.text_features.shape[0]

    @staticmethod
    @torch.no_grad()
    def _encode(clip: nn.Module, arch: str, prompts: list) -> torch.Tensor:
        import open_clip
        tokenizer = open_clip.get_tokenizer(resolve_arch(arch))
        num_templates = len(prompts[0])
        flat = [p for per_class in prompts for p in per_class]
        clip.eval()
        feats = []
        for i in range(0, len(flat), 256):
            feats.append(clip.encode_text(tokenizer(flat[i:i + 256])).float())
        feats = F.normalize(torch.cat(feats), dim=-1)
        feats = feats.view(len(prompts), num_templates, -1).mean(dim=1)
        return F.normalize(feats, dim=-1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """Cosine logits of image features ``(N, D)`` -> ``(N, C)``."""
        feats = F.normalize(feats, dim=-1)
        return self.logit_scale * feats @ self.text_features.t()
