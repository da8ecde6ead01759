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
