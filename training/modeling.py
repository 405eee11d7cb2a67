"""The classifier: the e5 encoder, mean pooling over the attention mask, and two heads.

- risk tier: 3-way softmax (taxonomy tier order);
- policy areas: one sigmoid per area (taxonomy area order), multi-label.

The forward pass returns raw logits; calibration temperatures are applied outside (in the ONNX scorer),
so the exported graph is exactly this module.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import BertConfig, BertModel


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-6)


class TriageClassifier(nn.Module):
    def __init__(self, encoder: BertModel, n_tiers: int, n_areas: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.tier_head = nn.Linear(hidden, n_tiers)
        self.area_head = nn.Linear(hidden, n_areas)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(self.embed(input_ids, attention_mask))

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The text's embedding: the encoder's last hidden states, mean-pooled over the attention mask."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def heads(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.dropout(pooled)
        return self.tier_head(pooled), self.area_head(pooled)

    def freeze(self, embeddings: bool, layers: int) -> None:
        """Freeze the word embeddings (96M of the 118M parameters) and the lowest ``layers`` layers."""
        self.encoder.embeddings.word_embeddings.weight.requires_grad_(not embeddings)
        for index, layer in enumerate(self.encoder.encoder.layer):
            for param in layer.parameters():
                param.requires_grad_(index >= layers)


class SourceConventions(nn.Module):
    """Each source's own labelling convention, learnt beside the served heads and used in training only.

    Sources disagree (an insult is medium in one, low in a detox set; one labels half its rows high, another
    none): fitting them all with one head teaches it each source's base rate and style. Here a row of source
    ``s`` is scored ``served(x) + delta_s(x)``, a per-source linear offset to the tier and area logits, and the
    served heads alone are exported. Reference sources (labelled in the taxonomy's own convention: the
    team-authored set, reviewers' decisions, benign everyday text) have no offset, so the served heads learn
    the taxonomy's convention; the others' offsets are held small by an L2 penalty on their weights, so they
    absorb what is systematic about a source (its prior over tiers and areas, mostly) and not its content."""

    def __init__(self, sources: list[str], reference: list[bool], hidden: int, n_outputs: int) -> None:
        super().__init__()
        self.sources = list(sources)
        self.trainable: torch.Tensor
        self.register_buffer("trainable", torch.tensor([not r for r in reference], dtype=torch.float32))
        self.weight = nn.Parameter(torch.zeros(len(sources), n_outputs, hidden))
        self.bias = nn.Parameter(torch.zeros(len(sources), n_outputs))

    def forward(self, pooled: torch.Tensor, source_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The offsets to add to the served logits (rows x outputs) and the mean L2 penalty of their weights."""
        mask = self.trainable[source_index].unsqueeze(1)
        weight = self.weight[source_index]
        offset = (torch.einsum("bh,boh->bo", pooled.float(), weight) + self.bias[source_index]) * mask
        penalty = (weight.pow(2).sum(dim=(1, 2)) * mask.squeeze(1)).mean()
        return offset, penalty


def encoder_config(folder: Path, layers: int | None = None) -> BertConfig:
    """The encoder's configuration, with only its lowest ``layers`` transformer layers when given."""
    config = BertConfig.from_json_file(str(folder / "config.json"))
    if layers is not None:
        if not 1 <= layers <= config.num_hidden_layers:
            raise ValueError(f"encoder_layers {layers}: the encoder has {config.num_hidden_layers} layers")
        config.num_hidden_layers = layers
    return config


def load_encoder(folder: Path, layers: int | None = None) -> BertModel:
    """The pretrained encoder; with ``layers``, its top layers dropped ("Poor Man's BERT", Sajjad et al. 2020:
    the lower layers carry most of what a classifier needs, at a fraction of the cost per step and per
    scored report)."""
    encoder = BertModel.from_pretrained(str(folder), config=encoder_config(folder, layers), add_pooling_layer=False,
                                        attn_implementation="eager")
    assert isinstance(encoder, BertModel)
    return encoder


def tiny_encoder(vocab_size: int, seed: int = 0) -> BertModel:
    """A randomly initialised 2-layer encoder with the real vocabulary size, for fast tests."""
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, type_vocab_size=2)
    return BertModel(config, add_pooling_layer=False)
