# Office-Home (Art, Clipart, Product, Real_World; 65 classes) as released:
#   ${data_root}/<Domain>/<Class>/*.jpg
# Override with --cfg-options data_root=... source_domain=... target_domain=...
# Transforms, loaders and the (transductive by default) target protocol are
# those of _folder_uda.py.
_base_ = ['./_folder_uda.py']
data_root = 'data/office_home'
source_domain = 'Art'
target_domain = 'Clipart'
# folder names in the official code's (case-sensitive sorted) label order
classes = [
    'Alarm_Clock', 'Backpack', 'Batteries', 'Bed', 'Bike', 'Bottle', 'Bucket',
    'Calculator', 'Calendar', 'Candles', 'Chair', 'Clipboards', 'Computer',
    'Couch', 'Curtains', 'Desk_Lamp', 'Drill', 'Eraser', 'Exit_Sign', 'Fan',
    'File_Cabinet', 'Flipflops', 'Flowers', 'Folder', 'Fork', 'Glasses',
    'Hammer', 'Helmet', 'Kettle', 'Keyboard', 'Knives', 'Lamp_Shade', 'Laptop',
    'Marker', 'Monitor', 'Mop', 'Mouse', 'Mug', 'Notebook', 'Oven', 'Pan',
    'Paper_Clip', 'Pen', 'Pencil', 'Postit_Notes', 'Printer', 'Push_Pin',
    'Radio', 'Refrigerator', 'Ruler', 'Scissors', 'Screwdriver', 'Shelf',
    'Sink', 'Sneakers', 'Soda', 'Speaker', 'Spoon', 'TV', 'Table', 'Telephone',
    'ToothBrush', 'Toys', 'Trash_Can', 'Webcam'
]
# prompt of the official code for Office-Home
templates = ['an image of a {}']
