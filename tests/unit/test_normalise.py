import pytest

from shared.pipeline.layout import partition_of, snapshot_sources
from shared.pipeline.normalise import email_problem, normalise_email, normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ada@Example.COM ", "ada@example.com"),
        ("x@y.io", "x@y.io"),
        ("\tA.B+tag@Mail.Example.org\n", "a.b+tag@mail.example.org"),
    ],
)
def test_normalise_email_trims_and_lowercases(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected
    assert email_problem(expected) is None


@pytest.mark.parametrize(
    ("email", "problem"),
    [
        ("", "no email address"),
        ("customer.example.com", "malformed email address"),
        ("a@@example.com", "malformed email address"),
        ("a@example", "malformed email address"),
        ("a b@example.com", "malformed email address"),
        ("a@-example.com", "malformed email address"),
        ("x" * 250 + "@example.com", "email address longer than 254 characters"),
    ],
)
def test_email_problems_are_named(email: str, problem: str) -> None:
    assert email_problem(email) == problem


def test_phone_needs_country_code() -> None:
    assert normalise_phone("+351 912-345-678") == ("+351912345678", None)
    assert normalise_phone("00351912345678") == ("+351912345678", None)
    _phone, problem = normalise_phone("912345678")
    assert problem is not None and "country code" in problem
    assert normalise_phone("  ") == ("", None)


def test_partitions_are_stable_and_cover_all() -> None:
    emails = [f"user{i}@example.com" for i in range(2000)]
    first = [partition_of(e, 8) for e in emails]
    assert first == [partition_of(e, 8) for e in emails]
    assert set(first) == set(range(8))
    # A snapshot written with 8 partitions is found from 32 and from 2.
    for email in emails[:200]:
        for new in (2, 32):
            assert partition_of(email, 8) in snapshot_sources(partition_of(email, new), new, 8)
