"""Sample support tickets offered as one-click buttons on the example app's page.

Example:
    >>> [sample.title for sample in SAMPLE_TICKETS][:2]
    ['Login loop', 'Double charge']
"""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["SAMPLE_TICKETS", "SampleTicket"]


class SampleTicket(BaseModel):
    """A short title for the button and the ticket text it fills in."""

    title: str
    ticket: str


SAMPLE_TICKETS: tuple[SampleTicket, ...] = (
    SampleTicket(
        title="Login loop",
        ticket=(
            "Hi team, since this morning I cannot log in to the dashboard. After I enter my "
            "password the page reloads and asks for it again. I cleared my cookies and tried "
            "two browsers. Our weekly report is due today, so this is blocking me. "
            "Thanks, Priya"
        ),
    ),
    SampleTicket(
        title="Double charge",
        ticket=(
            "Hello, my credit card was charged twice for the March invoice (INV-2291), 49 EUR "
            "each time. Please refund the duplicate payment and confirm by email. "
            "Kind regards, Tomás"
        ),
    ),
    SampleTicket(
        title="Export feature",
        ticket=(
            "Hey, is there a way to export all tickets of a project as CSV? The export button "
            "only gives me the current page. Not urgent, just curious whether it is planned. "
            "Cheers, Lena"
        ),
    ),
    SampleTicket(
        title="API outage",
        ticket=(
            "Dear support, your API has been returning 503 errors for all our requests since "
            "09:40 UTC. Our checkout is down and customers cannot pay. Please look into it "
            "immediately. Best, Marco (on-call, ShopCo)"
        ),
    ),
    SampleTicket(
        title="Slow search",
        ticket=(
            "Hi, search in the help center takes 20 seconds or more for simple words like "
            "'invoice'. It was fast last week. Is something wrong on your side? Thanks, Ahmed"
        ),
    ),
)
