# DomainNet (clipart, infograph, painting, quickdraw, real, sketch; 345
# classes) as downloaded: ${data_root}/<domain>/<class>/*.jpg plus the
# official split files ${data_root}/${split_dir}/<domain>_{train,test}.txt.
# The protocol is picked by the top-level `data_layout`:
#   'folders'  whole domain folders, as the official code uses them (train
#              and test images together, for adaptation and evaluation;
#              this file's default)
#   'list'     the standard protocol (domainnet_split.py): source and target
#              <domain>_train.txt for training, target <domain>_test.txt for
#              evaluation (target_holdout must stay 0: the test split is
#              held out already)
_base_ = ['./_folder_uda.py']
data_root = 'data/domainnet'
source_domain = 'clipart'
target_domain = 'sketch'
# Folder names in the label order of the official split files
# (<domain>_train.txt / <domain>_test.txt: label = the class number in the
# file names minus 1, e.g. clipart/aircraft_carrier/clipart_001_*.jpg -> 0),
# i.e. sorted ignoring case, '_' and '-'. This is NOT ImageFolder's
# case-sensitive order of the official code (which puts The_Eiffel_Tower,
# The_Great_Wall_of_China, The_Mona_Lisa first); labels here follow this
# list for both layouts, so folders and split files agree.
classes = [
    'aircraft_carrier', 'airplane', 'alarm_clock', 'ambulance', 'angel',
    'animal_migration', 'ant', 'anvil', 'apple', 'arm', 'asparagus', 'axe',
    'backpack', 'banana', 'bandage', 'barn', 'baseball', 'baseball_bat',
    'basket', 'basketball', 'bat', 'bathtub', 'beach', 'bear', 'beard', 'bed',
    'bee', 'belt', 'bench', 'bicycle', 'binoculars', 'bird', 'birthday_cake',
    'blackberry', 'blueberry', 'book', 'boomerang', 'bottlecap', 'bowtie',
    'bracelet', 'brain', 'bread', 'bridge', 'broccoli', 'broom', 'bucket',
    'bulldozer', 'bus', 'bush', 'butterfly', 'cactus', 'cake', 'calculator',
    'calendar', 'camel', 'camera', 'camouflage', 'campfire', 'candle',
    'cannon', 'canoe', 'car', 'carrot', 'castle', 'cat', 'ceiling_fan',
    'cello', 'cell_phone', 'chair', 'chandelier', 'church', 'circle',
    'clarinet', 'clock', 'cloud', 'coffee_cup', 'compass', 'computer',
    'cookie', 'cooler', 'couch', 'cow', 'crab', 'crayon', 'crocodile', 'crown',
    'cruise_ship', 'cup', 'diamond', 'dishwasher', 'diving_board', 'dog',
    'dolphin', 'donut', 'door', 'dragon', 'dresser', 'drill', 'drums', 'duck',
    'dumbbell', 'ear', 'elbow', 'elephant', 'envelope', 'eraser', 'eye',
    'eyeglasses', 'face', 'fan', 'feather', 'fence', 'finger', 'fire_hydrant',
    'fireplace', 'firetruck', 'fish', 'flamingo', 'flashlight', 'flip_flops',
    'floor_lamp', 'flower', 'flying_saucer', 'foot', 'fork', 'frog',
    'frying_pan', 'garden', 'garden_hose', 'giraffe', 'goatee', 'golf_club',
    'grapes', 'grass', 'guitar', 'hamburger', 'hammer', 'hand', 'harp', 'hat',
    'headphones', 'hedgehog', 'helicopter', 'helmet', 'hexagon', 'hockey_puck',
    'hockey_stick', 'horse', 'hospital', 'hot_air_balloon', 'hot_dog',
    'hot_tub', 'hourglass', 'house', 'house_plant', 'hurricane', 'ice_cream',
    'jacket', 'jail', 'kangaroo', 'key', 'keyboard', 'knee', 'knife', 'ladder',
    'lantern', 'laptop', 'leaf', 'leg', 'light_bulb', 'lighter', 'lighthouse',
    'lightning', 'line', 'lion', 'lipstick', 'lobster', 'lollipop', 'mailbox',
    'map', 'marker', 'matches', 'megaphone', 'mermaid', 'microphone',
    'microwave', 'monkey', 'moon', 'mosquito', 'motorbike', 'mountain',
    'mouse', 'moustache', 'mouth', 'mug', 'mushroom', 'nail', 'necklace',
    'nose', 'ocean', 'octagon', 'octopus', 'onion', 'oven', 'owl',
    'paintbrush', 'paint_can', 'palm_tree', 'panda', 'pants', 'paper_clip',
    'parachute', 'parrot', 'passport', 'peanut', 'pear', 'peas', 'pencil',
    'penguin', 'piano', 'pickup_truck', 'picture_frame', 'pig', 'pillow',
    'pineapple', 'pizza', 'pliers', 'police_car', 'pond', 'pool', 'popsicle',
    'postcard', 'potato', 'power_outlet', 'purse', 'rabbit', 'raccoon',
    'radio', 'rain', 'rainbow', 'rake', 'remote_control', 'rhinoceros',
    'rifle', 'river', 'roller_coaster', 'rollerskates', 'sailboat', 'sandwich',
    'saw', 'saxophone', 'school_bus', 'scissors', 'scorpion', 'screwdriver',
    'sea_turtle', 'see_saw', 'shark', 'sheep', 'shoe', 'shorts', 'shovel',
    'sink', 'skateboard', 'skull', 'skyscraper', 'sleeping_bag', 'smiley_face',
    'snail', 'snake', 'snorkel', 'snowflake', 'snowman', 'soccer_ball', 'sock',
    'speedboat', 'spider', 'spoon', 'spreadsheet', 'square', 'squiggle',
    'squirrel', 'stairs', 'star', 'steak', 'stereo', 'stethoscope', 'stitches',
    'stop_sign', 'stove', 'strawberry', 'streetlight', 'string_bean',
    'submarine', 'suitcase', 'sun', 'swan', 'sweater', 'swing_set', 'sword',
    'syringe', 'table', 'teapot', 'teddy-bear', 'telephone', 'television',
    'tennis_racquet', 'tent', 'The_Eiffel_Tower', 'The_Great_Wall_of_China',
    'The_Mona_Lisa', 'tiger', 'toaster', 'toe', 'toilet', 'tooth',
    'toothbrush', 'toothpaste', 'tornado', 'tractor', 'traffic_light', 'train',
    'tree', 'triangle', 'trombone', 'truck', 'trumpet', 't-shirt', 'umbrella',
    'underwear', 'van', 'vase', 'violin', 'washing_machine', 'watermelon',
    'waterslide', 'whale', 'wheel', 'windmill', 'wine_bottle', 'wine_glass',
    'wristwatch', 'yoga', 'zebra', 'zigzag'
]
templates = ['a photo of a {}']

data_layout = 'folders'
split_dir = '.'  # folder of the split files, relative to data_root
domain_dataset = dict(type='DomainDataset', layout='${data_layout}')
train_split = '${split_dir}/{domain}_train.txt'
test_split = '${split_dir}/{domain}_test.txt'
train_dataloader = dict(
    dataset=dict(
        source=dict(**domain_dataset, list_file='${train_split}'),
        target=dict(**domain_dataset, list_file='${train_split}')))
val_dataloader = dict(
    dataset=dict(**domain_dataset, list_file='${test_split}'))
test_dataloader = val_dataloader
