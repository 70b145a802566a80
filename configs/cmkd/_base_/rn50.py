arch = 'RN50'  # CLIP RN50 (open_clip name; pretrained='openai')
