"""Cost of a call from the shipped price table (``data/prices.json``), in integer micro-dollars.

Prices are USD per million tokens, which is exactly micro-dollars per token, so the arithmetic is
Decimal and the result is rounded once to a whole micro-dollar. An unknown model costs ``None``.
Image and audio models are priced by what they make or read instead (``MediaUnits``): USD per image
(``per_image``), per second of audio (``per_second``) and per million characters of speech input
(``per_million_characters``); a model without the price its endpoint needs costs ``None`` there too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

DEFAULT_PRICE_FILE = Path(__file__).resolve().parents[2] / "data" / "prices.json"
WILDCARD = "*"
INFERENCE_PROFILE = re.compile(r"(?:us|eu|apac|us-gov|jp|au|global)\.")
"""The geography prefix of a Bedrock cross-region inference profile: it costs what its model costs."""


@dataclass(frozen=True, slots=True)
class MediaUnits:
    """What an image or audio call is priced by: images made, seconds of audio read, characters spoken."""

    images: int = 0
    seconds: float | None = 0.0  # None: the length of the audio is not known
    characters: int = 0


MEDIA_PRICES = ("per_image", "per_second", "per_million_characters")


@dataclass(frozen=True, slots=True)
class Price:
    input: Decimal
    output: Decimal
    per_image: Decimal | None = None
    per_second: Decimal | None = None
    per_million_characters: Decimal | None = None
    _scaled: tuple[int, int, int] = field(init=False, repr=False, compare=False)  # (input, output, scale): exact integers

    def __post_init__(self) -> None:
        scale = 10 ** max(0, -int(self.input.as_tuple().exponent), -int(self.output.as_tuple().exponent))
        object.__setattr__(self, "_scaled", (int(self.input * scale), int(self.output * scale), scale))

    def cost_micros(self, prompt_tokens: int, completion_tokens: int) -> int:
        """The cost rounded half up to a whole micro-dollar, in integers (the prices scaled to whole numbers):
        exactly what Decimal gives, at a fraction of its cost (this runs for every call and every replayed one)."""
        price_in, price_out, scale = self._scaled
        total = price_in * prompt_tokens + price_out * completion_tokens
        return (2 * total + scale) // (2 * scale) if total >= 0 else -((-2 * total + scale) // (2 * scale))

    def media_cost_micros(self, units: MediaUnits) -> int | None:
        """The cost of what an image or audio call made or read; None when a unit it used has no price here
        (or its audio's length is unknown)."""
        if units.seconds is None:
            return None
        used = ((units.images, self.per_image), (Decimal(str(units.seconds)), self.per_second),
                (Decimal(units.characters) / 1_000_000, self.per_million_characters))
        if any(amount and price is None for amount, price in used):
            return None
        usd = sum((Decimal(amount) * price for amount, price in used if amount and price is not None), Decimal(0))
        return int((usd * 1_000_000).to_integral_value(ROUND_HALF_UP))


class PriceTable:
    def __init__(self, prices: dict[str, dict[str, Price]]) -> None:
        self._prices = prices

    @classmethod
    def load(cls, path: Path = DEFAULT_PRICE_FILE) -> PriceTable:
        raw = json.loads(path.read_text())
        prices = {kind: {model: _price(p) for model, p in models.items()} for kind, models in raw.items() if not kind.startswith("_")}
        return cls(prices)

    @lru_cache(maxsize=1024)  # noqa: B019 - one table per process, the cache lives as long
    def price(self, kind: str, model: str) -> Price | None:
        table = self._prices.get(kind, {})
        if kind == "bedrock" and (profile := INFERENCE_PROFILE.match(model)):
            model = model[profile.end():]
        if model in table:
            return table[model]
        prefixes = [name for name in table if name != WILDCARD and model.startswith(name)]
        if prefixes:
            return table[max(prefixes, key=len)]
        return table.get(WILDCARD)

    def cost_micros(self, kind: str, model: str, prompt_tokens: int, completion_tokens: int) -> int | None:
        price = self.price(kind, model)
        return None if price is None else price.cost_micros(prompt_tokens, completion_tokens)


def _price(entry: dict[str, str]) -> Price:
    """A price table entry; a media model's leaves its token prices out (they are 0)."""
    media = {name: Decimal(entry[name]) for name in MEDIA_PRICES if name in entry}
    return Price(Decimal(entry.get("input", "0")), Decimal(entry.get("output", "0")), **media)


def format_usd(micros: int | float | None) -> str:
    """Human form of a stored cost: cents from a cent up, every micro-dollar below (a single call's cost
    is often a few hundredths of a cent, and "$0.00" would hide it); unknown stays visibly unknown."""
    if micros is None:
        return "unknown"
    if not micros:
        return "$0"
    if abs(micros) < 10_000:
        return f"${Decimal(int(micros)) / 1_000_000:.6f}".rstrip("0")
    return f"${micros / 1_000_000:,.2f}"
