"""Training: data (photos, decord frame sampling), the expert-style generator, the retoucher
training loop, few-shot style learning and pair rendering."""
