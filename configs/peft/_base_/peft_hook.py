# PEFT baselines (paper Table VII): log the DSP at the start of training and
# drive AdaLoRA's rank allocation (a no-op for the other methods).
custom_hooks = [dict(type='mmvlpuda.PEFTHook')]
