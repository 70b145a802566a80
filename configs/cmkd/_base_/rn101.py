arch = 'RN101'  # CLIP RN101 (open_clip name; pretrained='openai')
