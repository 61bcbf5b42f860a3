"""Console sessions across two instances on one PostgreSQL and one Redis, in Chromium: a person signed in
on one instance is signed in on the other, the sign-in ticket issued by one is taken by the other (as
when a load balancer sends the redirect elsewhere), and signing out on one ends the session on both."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, Route, expect

from tests.cluster.conftest import redis_for_a_test
from tests.conftest import RunningApp, start_app
from tests.databases import postgres_or_skip, scratch_postgres
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_ENV, ADMIN_PASSWORD, logout, new_page, submit_sign_in


@dataclass(frozen=True)
class Pair:
    a: RunningApp
    b: RunningApp


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    postgres_or_skip()
    folder = tmp_path_factory.mktemp("cluster-e2e")
    with scratch_postgres() as url, redis_for_a_test() as redis:
        env = {**ADMIN_ENV, "LLMHUB_DATABASE_URL": url.render_as_string(hide_password=False),
               "LLMHUB_SECRET_KEY": Fernet.generate_key().decode(), "LLMHUB_REDIS_URL": redis.url, "LLMHUB_REDIS_PREFIX": redis.prefix}
        a = start_app(folder / "a", env=env)
        try:
            b = start_app(folder / "b", env=env)
        except BaseException:
            a.stop()
            raise
        yield Pair(a, b)
        a.stop()
        b.stop()


def test_signed_in_on_one_instance_is_signed_in_on_the_other(browser: Browser, pair: Pair) -> None:
    page = new_page(browser)
    page.goto(pair.a.url + "/login")
    submit_sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(page.get_by_test_id("user-menu")).to_be_visible()
    page.goto(pair.b.url + "/")  # the same host, so the same cookie: another instance behind a balancer
    expect(page).to_have_url(pair.b.url + "/")
    expect(page.get_by_test_id("user-menu")).to_be_visible()
    logout(page, pair.b.url)
    page.goto(pair.a.url + "/")
    expect(page).to_have_url(re.compile(re.escape(pair.a.url + "/login")))  # signed out everywhere
    page.context.close()


def test_a_sign_in_ticket_from_one_instance_is_taken_by_the_other(browser: Browser, pair: Pair) -> None:
    page = new_page(browser)

    def to_b(route: Route) -> None:
        route.fulfill(status=303, headers={"location": route.request.url.replace(pair.a.url, pair.b.url)})

    page.route(pair.a.url + "/_session/begin**", to_b)
    page.goto(pair.a.url + "/login")
    submit_sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(page).to_have_url(pair.b.url + "/")
    expect(page.get_by_test_id("user-menu")).to_be_visible()
    page.context.close()
