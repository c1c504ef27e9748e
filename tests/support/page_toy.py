"""A technique with a dashboard page, to test that the dashboard takes its pages from the registry.

The page draws only through the kit it is handed (``foundation.contract.PageKit``): a title, one
query on the warehouse snapshot with a bound parameter, a marker line and the main-plot record.
"""
from __future__ import annotations

import dataclasses

from foundation.contract import Page, PageKit
from tests.support import toy_technique

MARKER = "page of the page-toy technique"


def render(kit: PageKit) -> None:
    kit.st.title("Toy page")
    answer = kit.q("select ? as answer, ? as question", [42, "bound"])
    kit.st.markdown(f"{MARKER}: answer {int(answer.answer.iloc[0])} ({answer.question.iloc[0]})")
    kit.main_plot(answer, "answer")


TECHNIQUE = dataclasses.replace(toy_technique.TECHNIQUE, name="pagetoy",
                                pages=[Page("toy_page", "Toy page", render)])

#: the same technique with a page whose slug is the dashboard's own findings page
CLASHING = dataclasses.replace(TECHNIQUE, pages=[Page("findings", "Toy findings", render)])
