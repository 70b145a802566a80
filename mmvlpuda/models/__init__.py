# mmseg/mmdet (imported below) need mmcv's compiled ops or the stand-in
from mmvlpuda.utils.compat import require_mmcv_ops

require_mmcv_ops()

from .backbones import *  # noqa: F401,F403,E402
from .classifiers import *  # noqa: F401,F403,E402
from .decode_heads import *  # noqa: F401,F403,E402
from .heads import *  # noqa: F401,F403,E402
from .losses import *  # noqa: F401,F403,E402
from .peft import *  # noqa: F401,F403,E402
from .segmentors import *  # noqa: F401,F403,E402
from .utils import *  # noqa: F401,F403,E402
