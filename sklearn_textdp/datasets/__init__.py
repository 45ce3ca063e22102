"""Small labelled text datasets bundled with the package (CC BY 4.0, see NOTICE)."""

from ._bundled import load_drug_reviews, load_sms_spam

__all__ = ["load_sms_spam", "load_drug_reviews"]
