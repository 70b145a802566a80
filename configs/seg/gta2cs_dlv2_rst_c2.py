# Table VII "RST config2" (56.7 mIoU, DSP 12.6M of 42.51M): budget 29.6 %.
_base_ = './gta2cs_dlv2_rst_c1.py'
rst_density = 0.296  # 12.6M / 42.51M (Table VII)
