"""The web kit of both tiers: serving, one ``require(role)``, page headers, locale, reports, shared assets."""
