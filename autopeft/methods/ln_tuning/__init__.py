"""LN tuning: train the gain and bias of a layer's LayerNorms."""
