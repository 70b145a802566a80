arch = 'ViT-B-16'  # CLIP ViT-B/16 (open_clip name; pretrained='openai')
