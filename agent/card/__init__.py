"""The card: the payload's card data checked, and the e-KTP front laid out and rendered."""
from .data import CardData, CardDataError, CardPayload, PayloadError, parse_payload
from .render import CardRenderer

__all__ = ["CardData", "CardDataError", "CardPayload", "CardRenderer", "PayloadError", "parse_payload"]
