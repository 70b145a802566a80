# ImageCLEF-DA as released (the archive as downloaded):
#   ${data_root}/{b,c,i,p}/*.jpg              flat image folders
#   ${data_root}/list/{b,c,i,p}List.txt       "c/113_0114.jpg 2" per line
#   ${data_root}/{b,c,i,p}_list.txt           (flat lists, also usable)
# labels in the order of `classes`. Listed paths that are not on disk are
# found by file name (list/bList.txt, list/cList.txt name Caltech class
# folders the flat release does not have); lists written for another root
# (e.g. "/data/image-clef/c/113_0114.jpg 2") need
#   --cfg-options list_strip_prefix=/data/image-clef/
# Class-named folders instead (${data_root}/<domain>/<class>/*.jpg):
#   --cfg-options data_layout=folders   (or base a config on image_clef.py)
_base_ = ['./image_clef.py']
data_layout = 'list'
