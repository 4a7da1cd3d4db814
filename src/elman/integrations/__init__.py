"""Bridges to other NLP libraries: a spaCy pipeline component and Hugging Face datasets.

Each module imports its library, which is an optional dependency (``pip install
'elman[spacy]'`` or ``'elman[hf]'``).
"""
