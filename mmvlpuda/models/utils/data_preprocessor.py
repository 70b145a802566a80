from typing import Optional, Union

from mmengine.model import BaseDataPreprocessor

from mmvlpuda.registry import MODELS

CLIP_MEAN = [0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255]
CLIP_STD = [0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255]


@MODELS.register_module()
class UDADataPreprocessor(BaseDataPreprocessor):
    """Apply one task data preprocessor to every branch of a paired batch.

    Training batches from :class:`UDADataset` are
    ``dict(source=dict(inputs, data_samples), target=dict(...))``; each branch
    goes through ``preprocessor`` (mmpretrain's ``ClsDataPreprocessor`` with
    CLIP mean/std by default). Ordinary batches (evaluation on a single
    dataset) go straight through ``preprocessor``.

    Args:
        preprocessor (dict | BaseDataPreprocessor): the per-branch
            preprocessor. Defaults to ClsDataPreprocessor with CLIP stats.

    Example:
        >>> data_preprocessor = dict(
        ...     type='UDADataPreprocessor',
        ...     preprocessor=dict(type='mmpretrain.ClsDataPreprocessor',
        ...                       mean=CLIP_MEAN, std=CLIP_STD, to_rgb=True))
    """

    def __init__(self,
                 preprocessor: Optional[Union[dict,
                                              BaseDataPreprocessor]] = None):
        super().__init__()
        if preprocessor is None:
            preprocessor = dict(
                type='mmpretrain.ClsDataPreprocessor',
                mean=CLIP_MEAN,
                std=CLIP_STD,
                to_rgb=True)
        if isinstance(preprocessor, dict):
            preprocessor = MODELS.build(preprocessor)
        self.preprocessor = preprocessor

    @staticmethod
    def _is_paired(data) -> bool:
        return isinstance(data, dict) and 'inputs' not in data and all(
            isinstance(v, dict) and 'inputs' in v for v in data.values())

    def forward(self, data: dict, training: bool = False) -> dict:
        if self._is_paired(data):
            return {
                branch: self.preprocessor(branch_data, training)
                for branch, branch_data in data.items()
            }
        return self.preprocessor(data, training)
