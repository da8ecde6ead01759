"""`search=`: case-insensitive substring of title or description, wildcards taken literally."""

from support import ApiUser


async def titles(user: ApiUser, **params: str) -> list[str]:
    response = await user.request("GET", params=params)
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()]


async def test_search_matches_title_or_description_ignoring_case(alice: ApiUser) -> None:
    await alice.create(title="Buy MILK")
    await alice.create(title="Call mum", description="about the milkman")
    await alice.create(title="Unrelated")

    assert await titles(alice, search="milk") == ["Call mum", "Buy MILK"]
    assert await titles(alice, search="MiLk") == ["Call mum", "Buy MILK"]
    assert await titles(alice, search="nothing like it") == []


async def test_search_takes_wildcards_literally(alice: ApiUser) -> None:
    for title in ["100% done", "1000 done", "snake_case", "snakeXcase", "back\\slash", "backslash"]:
        await alice.create(title=title)

    assert await titles(alice, search="100%") == ["100% done"]
    assert await titles(alice, search="%") == ["100% done"]
    assert await titles(alice, search="e_c") == ["snake_case"]
    assert await titles(alice, search="k\\s") == ["back\\slash"]


async def test_search_takes_the_like_escape_character_literally(alice: ApiUser) -> None:
    """The search is escaped with `/`: a `/` in it is a plain character too."""
    for title in ["either/or", "eitheror", "50/%", "50%", "a/_b", "a_b"]:
        await alice.create(title=title)

    assert await titles(alice, search="r/o") == ["either/or"]
    assert await titles(alice, search="/%") == ["50/%"]
    assert await titles(alice, search="/_") == ["a/_b"]
    assert await titles(alice, search="/") == ["a/_b", "50/%", "either/or"]


async def test_search_combines_with_completion_filter(alice: ApiUser) -> None:
    await alice.create(title="report draft", completed=True)
    await alice.create(title="report final")

    assert await titles(alice, search="report", completed="true") == ["report draft"]
    assert await titles(alice, search="report", completed="false") == ["report final"]


async def test_empty_search_lists_everything(alice: ApiUser) -> None:
    await alice.create(title="one")

    assert await titles(alice, search="") == ["one"]


async def test_search_folds_case_beyond_ascii_on_both_engines(alice: ApiUser) -> None:
    """One meaning on SQLite and PostgreSQL: each character lower-cased on its own, as
    PostgreSQL's `ILIKE` does under a UTF-8 locale."""
    for title in ["Äpfel kaufen", "Straße fegen", "ΣΟΦΊΑ lesen", "ПРИВЕТ сказать", "İstanbul"]:
        await alice.create(title=title)
    await alice.create(title="Unrelated", description="ÜBER den Fluss")

    assert await titles(alice, search="äpfel") == ["Äpfel kaufen"]
    assert await titles(alice, search="ÄPFEL") == ["Äpfel kaufen"]
    assert await titles(alice, search="über") == ["Unrelated"]
    assert await titles(alice, search="STRAẞE") == ["Straße fegen"]
    assert await titles(alice, search="σοφία") == ["ΣΟΦΊΑ lesen"]
    assert await titles(alice, search="привет") == ["ПРИВЕТ сказать"]
    assert await titles(alice, search="istanbul") == ["İstanbul"]


async def test_search_folds_case_but_not_spelling_or_accents(alice: ApiUser) -> None:
    """Case only: `ss` is not `ß`, `a` is not `ä`, and a final `ς` is its own letter."""
    for title in ["Straße", "Äpfel", "ΟΔΟΣ"]:
        await alice.create(title=title)

    assert await titles(alice, search="strasse") == []
    assert await titles(alice, search="apfel") == []
    assert await titles(alice, search="οδοσ") == ["ΟΔΟΣ"]
    assert await titles(alice, search="οδος") == []
