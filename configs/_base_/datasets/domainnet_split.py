# DomainNet with the official split files (standard protocol): source =
# <source>_train.txt, target = <target>_train.txt (unlabeled), evaluation on
# <target>_test.txt. Files as downloaded, lines
# "clipart/aircraft_carrier/clipart_001_000018.jpg 0" relative to data_root:
#   ${data_root}/${split_dir}/<domain>_{train,test}.txt
#   ${data_root}/<domain>/<class>/*.jpg
# The grid configs of this protocol: configs/*/domainnet_split_*.py.
_base_ = ['./domainnet.py']
data_layout = 'list'
