"""Accounts over real HTTP: registration, login, access tokens (including forged ones), refresh
token rotation with reuse detection, logout, and the races that the database must settle
(concurrent registration of one email, concurrent refresh of one token) across several nodes.

Every test uses its own uuid-based email so tests never depend on each other's accounts.
"""

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid

import pytest

from helpers import PASSWORD, api, assert_error, unique_email

RFC3339_MS_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


# ---------------------------------------------------------------------------------------------
# Helpers of the auth endpoints (accounts for other suites: helpers.new_user).

def register(email=None, password=PASSWORD, base=None, **extra):
	"""Registers an account and returns (email, user JSON); fails the test on anything but 201."""
	email = email or unique_email("auth")
	body = {"email": email, "password": password}
	body.update(extra)
	status, data = api("POST", "/api/v1/auth/register", body, base=base)
	assert status == 201, (status, data)
	return email, data


def login(email, password=PASSWORD, base=None):
	status, data = api("POST", "/api/v1/auth/login", {"email": email, "password": password},
			   base=base)
	assert status == 200, (status, data)
	return data


def refresh(token, base=None):
	return api("POST", "/api/v1/auth/refresh", {"refresh_token": token}, base=base)


def me(token, base=None):
	return api("GET", "/api/v1/auth/me", token=token, base=base)


def b64url(data):
	return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_jwt(secret, claims, header=None, alg="HS256"):
	"""A JWT built by hand: header.claims.signature with HMAC-SHA256 (or SHA-384/512), or an
	empty signature when alg is "none"."""
	header = header or {"alg": alg, "typ": "JWT"}
	signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
			 + b64url(json.dumps(claims, separators=(",", ":")).encode()))
	digests = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
	if alg == "none":
		signature = ""
	else:
		signature = b64url(hmac.new(secret.encode(), signing_input.encode(),
					    digests[alg]).digest())
	return signing_input + "." + signature


def access_claims(user_id, iat=None, ttl=900, typ="access"):
	iat = int(time.time()) if iat is None else iat
	return {"sub": user_id, "iat": iat, "exp": iat + ttl, "typ": typ, "jti": uuid.uuid4().hex}


@pytest.fixture(scope="module")
def jwt_secret(cluster):
	"""The secret the nodes sign with: whatever the cluster put into their environment."""
	secret = cluster.node_env(0).get("FLOWSTATE_JWT_SECRET")
	assert secret, "the cluster does not set FLOWSTATE_JWT_SECRET"
	return secret


@pytest.fixture
def account(cluster):
	"""A fresh registered user: (email, user JSON)."""
	return register()


def run_concurrently(n, fn):
	"""Runs fn(i) in n threads released at the same instant; returns the results in order
	(an exception is returned as the result)."""
	barrier = threading.Barrier(n)
	results = [None] * n

	def worker(i):
		try:
			barrier.wait(timeout=30)
			results[i] = fn(i)
		except Exception as e:  # reported by the caller's assertions
			results[i] = e

	threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
	for t in threads:
		t.start()
	for t in threads:
		t.join(60)
	assert not any(t.is_alive() for t in threads), "a request thread did not finish"
	return results


# ---------------------------------------------------------------------------------------------
# Registration.

def test_register_returns_201_with_normalized_email_and_local_part_as_display_name(cluster):
	local = "Ada-" + uuid.uuid4().hex[:12]
	status, body = api("POST", "/api/v1/auth/register",
			   {"email": "  %s@Example.COM " % local, "password": PASSWORD})
	assert status == 201, body
	assert body["email"] == "%s@example.com" % local.lower()
	assert body["display_name"] == local.lower()
	assert set(body) == {"id", "email", "display_name", "created_at"}
	uuid.UUID(body["id"])
	assert re.match(RFC3339_MS_UTC, body["created_at"]), body


def test_register_keeps_the_given_display_name_and_never_returns_the_password(cluster):
	email, body = register(display_name="Ada Lovelace")
	assert body["display_name"] == "Ada Lovelace"
	assert PASSWORD not in json.dumps(body)
	assert "password" not in json.dumps(body)


def test_register_same_email_twice_is_409_email_taken(account):
	email, _ = account
	status, body = api("POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
	assert_error(status, body, 409, "email_taken")


def test_register_email_differing_only_by_case_or_whitespace_is_409(account):
	email, _ = account
	for variant in (email.upper(), " " + email.title() + "\t"):
		status, body = api("POST", "/api/v1/auth/register",
				   {"email": variant, "password": "another password"})
		assert_error(status, body, 409, "email_taken")


INVALID_REGISTRATIONS = [
	# (id, body builder, code, field named in detail)
	("email_without_at", lambda e: {"email": "no-at-sign.example.com", "password": PASSWORD},
	 "invalid_field", "email"),
	("email_two_ats", lambda e: {"email": "a@b@example.com", "password": PASSWORD},
	 "invalid_field", "email"),
	("email_without_dotted_domain", lambda e: {"email": "ada@localhost", "password": PASSWORD},
	 "invalid_field", "email"),
	("email_empty", lambda e: {"email": "", "password": PASSWORD}, "invalid_field", "email"),
	("email_with_space", lambda e: {"email": "ada lovelace@example.com", "password": PASSWORD},
	 "invalid_field", "email"),
	("email_too_long", lambda e: {"email": "a" * 60 + "@" + "b" * 200 + ".com",
				      "password": PASSWORD}, "invalid_field", "email"),
	("email_is_a_number", lambda e: {"email": 12345, "password": PASSWORD},
	 "invalid_field", "email"),
	("email_is_an_object", lambda e: {"email": {"a": 1}, "password": PASSWORD},
	 "invalid_field", "email"),
	("email_missing", lambda e: {"password": PASSWORD}, "missing_field", "email"),
	("email_null", lambda e: {"email": None, "password": PASSWORD}, "missing_field", "email"),
	("password_short", lambda e: {"email": e, "password": "1234567"}, "invalid_field",
	 "password"),
	("password_too_long", lambda e: {"email": e, "password": "x" * 257}, "invalid_field",
	 "password"),
	("password_missing", lambda e: {"email": e}, "missing_field", "password"),
	("password_is_a_number", lambda e: {"email": e, "password": 12345678}, "invalid_field",
	 "password"),
	("display_name_too_long", lambda e: {"email": e, "password": PASSWORD,
					     "display_name": "x" * 101}, "invalid_field",
	 "display_name"),
	("display_name_multibyte_too_long", lambda e: {"email": e, "password": PASSWORD,
						       "display_name": "\u00e9" * 51},
	 "invalid_field", "display_name"),
	("display_name_empty", lambda e: {"email": e, "password": PASSWORD, "display_name": ""},
	 "invalid_field", "display_name"),
	("display_name_only_spaces", lambda e: {"email": e, "password": PASSWORD,
						"display_name": "   "}, "invalid_field",
	 "display_name"),
	("display_name_control_character", lambda e: {"email": e, "password": PASSWORD,
						      "display_name": "Ada\u0007"},
	 "invalid_field", "display_name"),
	("display_name_is_a_list", lambda e: {"email": e, "password": PASSWORD,
					      "display_name": ["Ada"]}, "invalid_field",
	 "display_name"),
	("unknown_field", lambda e: {"email": e, "password": PASSWORD, "is_admin": True},
	 "unknown_field", "is_admin"),
	("misspelled_field", lambda e: {"email": e, "pasword": PASSWORD}, "unknown_field",
	 "pasword"),
]


@pytest.mark.parametrize("builder,code,field",
			 [case[1:] for case in INVALID_REGISTRATIONS],
			 ids=[case[0] for case in INVALID_REGISTRATIONS])
def test_register_rejects_invalid_body_with_422_naming_the_field(cluster, builder, code, field):
	email = unique_email("invalid")
	status, body = api("POST", "/api/v1/auth/register", builder(email))
	assert_error(status, body, 422, code, field)
	# Nothing was created: the same email still registers.
	if isinstance(builder(email).get("email"), str) and builder(email)["email"] == email:
		register(email)


@pytest.mark.parametrize("raw", [
	"{",
	"",
	"not json",
	'{"email": "a@example.com", "password": }',
	'{"email": "a@example.com", "password": "x", "password": "y"}',  # duplicate key
	"\xff\xfe",
], ids=["unterminated", "empty", "text", "missing_value", "duplicate_key", "not_utf8"])
def test_register_malformed_json_is_400_malformed_json(cluster, raw):
	status, body = api("POST", "/api/v1/auth/register", raw.encode("latin-1"),
			   headers={"Content-Type": "application/json"})
	assert_error(status, body, 400, "malformed_json")


@pytest.mark.parametrize("raw", ["[]", '["a@example.com", "password1"]'])
def test_register_json_that_is_not_an_object_is_422_invalid_body(cluster, raw):
	status, body = api("POST", "/api/v1/auth/register", raw)
	assert_error(status, body, 422, "invalid_body")


def test_register_accepts_password_of_exactly_8_and_256_bytes(cluster):
	for password in ("12345678", "p" * 256):
		email, _ = register(password=password)
		login(email, password)


def test_register_display_name_is_stored_without_surrounding_whitespace(cluster):
	"""validate_display_name() judges the trimmed name, so the trimmed name is what must be
	stored (common/base/validate.h: "Store the trimmed form")."""
	status, body = api("POST", "/api/v1/auth/register",
			   {"email": unique_email("trim"), "password": PASSWORD,
			    "display_name": "  Ada  "})
	assert status == 201, body
	assert body["display_name"] == "Ada"


def test_register_padded_display_name_of_100_bytes_is_never_a_server_error(cluster):
	status, body = api("POST", "/api/v1/auth/register",
			   {"email": unique_email("trim"), "password": PASSWORD,
			    "display_name": "  " + "d" * 100 + "  "})
	assert status < 500, (status, body)
	assert status == 201, (status, body)
	assert body["display_name"] == "d" * 100


# ---------------------------------------------------------------------------------------------
# Login.

def test_login_returns_200_with_token_pair(account):
	email, user = account
	body = login(email)
	assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}, body
	assert body["token_type"] == "bearer"
	assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
	assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
	assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 32
	status, me_body = me(body["access_token"])
	assert status == 200 and me_body["id"] == user["id"], me_body


def test_login_normalizes_the_email_like_register(account):
	email, user = account
	body = login("  " + email.upper() + " ")
	status, me_body = me(body["access_token"])
	assert status == 200 and me_body["email"] == email, me_body


def test_login_wrong_password_and_unknown_email_get_the_same_401(account):
	email, _ = account
	wrong = api("POST", "/api/v1/auth/login", {"email": email, "password": "wrong password"})
	unknown = api("POST", "/api/v1/auth/login",
		      {"email": unique_email("nobody"), "password": PASSWORD})
	invalid = api("POST", "/api/v1/auth/login", {"email": "not-an-email", "password": PASSWORD})
	assert_error(*wrong, 401, "invalid_credentials")
	assert wrong == unknown == invalid, (wrong, unknown, invalid)


def test_login_password_is_case_sensitive_and_exact(account):
	email, _ = account
	for attempt in (PASSWORD.upper(), PASSWORD + " ", PASSWORD[:-1]):
		status, body = api("POST", "/api/v1/auth/login", {"email": email, "password": attempt})
		assert_error(status, body, 401, "invalid_credentials")


def test_login_with_invalid_body_is_422_not_401(cluster):
	status, body = api("POST", "/api/v1/auth/login", {"email": unique_email()})
	assert_error(status, body, 422, "missing_field", "password")
	status, body = api("POST", "/api/v1/auth/login",
			   {"email": unique_email(), "password": PASSWORD, "remember": True})
	assert_error(status, body, 422, "unknown_field", "remember")


# ---------------------------------------------------------------------------------------------
# Access tokens.

def test_me_with_access_token_returns_the_user(account):
	email, user = account
	status, body = me(login(email)["access_token"])
	assert status == 200, body
	assert body == user


def test_me_without_token_is_401(cluster):
	status, body = api("GET", "/api/v1/auth/me")
	assert_error(status, body, 401, "unauthorized")


@pytest.mark.parametrize("authorization", [
	"Bearer garbage",
	"Bearer ",
	"Bearer a.b.c",
	"Bearer " + "A" * 5000,
	"Basic dXNlcjpwYXNz",
	"bearer",
], ids=["garbage", "empty", "three_dots", "huge", "basic", "scheme_only"])
def test_me_with_garbage_authorization_is_401(cluster, authorization):
	status, body = api("GET", "/api/v1/auth/me", headers={"Authorization": authorization})
	assert_error(status, body, 401, "unauthorized")


def test_me_accepts_a_hand_forged_token_signed_with_the_node_secret(account, jwt_secret):
	"""Control for the forgery tests below: the forging code itself is right, so their 401s
	are about the property they name."""
	_, user = account
	token = forge_jwt(jwt_secret, access_claims(user["id"]))
	status, body = me(token)
	assert status == 200, body
	assert body["id"] == user["id"]


def test_me_with_token_signed_by_another_secret_is_401(account, jwt_secret):
	_, user = account
	token = forge_jwt("another-secret-" + uuid.uuid4().hex, access_claims(user["id"]))
	status, body = me(token)
	assert_error(status, body, 401, "unauthorized")


def test_me_with_alg_none_token_is_401(account, jwt_secret):
	_, user = account
	claims = access_claims(user["id"])
	for header in ({"alg": "none", "typ": "JWT"}, {"alg": "None"}, {"alg": "NONE"}):
		token = forge_jwt(jwt_secret, claims, header=header, alg="none")
		status, body = me(token)
		assert_error(status, body, 401, "unauthorized")
	# alg none with a valid HS256 signature appended must not pass either.
	good = forge_jwt(jwt_secret, claims)
	sig = good.rsplit(".", 1)[1]
	none_header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
	token = none_header + "." + good.split(".")[1] + "." + sig
	assert_error(*me(token), 401, "unauthorized")


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_me_with_other_hmac_algorithm_under_the_right_secret_is_401(account, jwt_secret, alg):
	_, user = account
	token = forge_jwt(jwt_secret, access_claims(user["id"]), alg=alg)
	assert_error(*me(token), 401, "unauthorized")


def test_me_with_expired_token_is_401(account, jwt_secret):
	_, user = account
	token = forge_jwt(jwt_secret, access_claims(user["id"], iat=int(time.time()) - 3600, ttl=60))
	assert_error(*me(token), 401, "unauthorized")


def test_me_with_token_of_another_type_is_401(account, jwt_secret):
	_, user = account
	token = forge_jwt(jwt_secret, access_claims(user["id"], typ="refresh"))
	assert_error(*me(token), 401, "unauthorized")


def test_me_with_tampered_claims_is_401(account, jwt_secret):
	"""Changing the subject of a real token without re-signing it must not work."""
	email, user = account
	other_email, other = register()
	token = login(email)["access_token"]
	header, _, sig = token.split(".")
	forged_claims = b64url(json.dumps(access_claims(other["id"])).encode())
	assert_error(*me(header + "." + forged_claims + "." + sig), 401, "unauthorized")


def test_me_for_a_subject_that_is_not_a_user_is_401(cluster, jwt_secret):
	token = forge_jwt(jwt_secret, access_claims(str(uuid.uuid4())))
	assert_error(*me(token), 401, "unauthorized")


def test_access_token_from_one_node_is_accepted_by_every_node(cluster, account):
	email, user = account
	token = login(email, base=cluster.node_urls[0])["access_token"]
	for url in cluster.node_urls:
		status, body = me(token, base=url)
		assert status == 200 and body["id"] == user["id"], (url, status, body)


# ---------------------------------------------------------------------------------------------
# Refresh tokens.

def test_refresh_returns_a_new_working_pair_and_the_old_refresh_token_stops_working(account):
	email, user = account
	first = login(email)
	status, second = refresh(first["refresh_token"])
	assert status == 200, second
	assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in"}
	assert second["token_type"] == "bearer"
	assert second["refresh_token"] != first["refresh_token"]
	status, body = me(second["access_token"])
	assert status == 200 and body["id"] == user["id"], body
	# The rotated-away token is dead.
	assert_error(*refresh(first["refresh_token"]), 401, "invalid_refresh_token")


def test_refresh_chain_keeps_working_while_each_token_is_used_once(account):
	email, _ = account
	token = login(email)["refresh_token"]
	for _ in range(5):
		status, body = refresh(token)
		assert status == 200, body
		token = body["refresh_token"]


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(account):
	email, _ = account
	first = login(email)
	status, second = refresh(first["refresh_token"])
	assert status == 200, second
	# Replay of the used token: theft detected.
	assert_error(*refresh(first["refresh_token"]), 401, "invalid_refresh_token")
	# ...so the legitimate successor is revoked too.
	assert_error(*refresh(second["refresh_token"]), 401, "invalid_refresh_token")


def test_reuse_in_one_login_session_does_not_revoke_another_session(account):
	email, _ = account
	session_a = login(email)
	session_b = login(email)
	status, a2 = refresh(session_a["refresh_token"])
	assert status == 200, a2
	assert_error(*refresh(session_a["refresh_token"]), 401, "invalid_refresh_token")
	assert_error(*refresh(a2["refresh_token"]), 401, "invalid_refresh_token")
	status, b2 = refresh(session_b["refresh_token"])
	assert status == 200, b2
	status, b3 = refresh(b2["refresh_token"])
	assert status == 200, b3


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "not a token at all"],
			 ids=["empty", "short", "token_shaped", "text"])
def test_refresh_with_unknown_token_is_401(cluster, token):
	assert_error(*refresh(token), 401, "invalid_refresh_token")


def test_refresh_with_invalid_body_is_422(cluster):
	assert_error(*api("POST", "/api/v1/auth/refresh", {}), 422, "missing_field",
		     "refresh_token")
	assert_error(*api("POST", "/api/v1/auth/refresh", {"refresh_token": 42}), 422,
		     "invalid_field", "refresh_token")
	assert_error(*api("POST", "/api/v1/auth/refresh", {"refresh_token": "x", "extra": 1}), 422,
		     "unknown_field", "extra")


def test_access_token_is_not_a_refresh_token(account):
	email, _ = account
	pair = login(email)
	status, body = refresh(pair["access_token"])
	# An access token is longer than any refresh token may be (422), or simply unknown (401).
	assert status in (401, 422), (status, body)
	assert_error(status, body, status)
	status, body = refresh(pair["refresh_token"])
	assert status == 200, body
	# and the refresh token is not an access token
	assert_error(*me(pair["refresh_token"]), 401, "unauthorized")


# ---------------------------------------------------------------------------------------------
# Logout.

def test_logout_with_refresh_token_revokes_that_session_only(account):
	email, _ = account
	session_a = login(email)
	session_b = login(email)
	status, body = api("POST", "/api/v1/auth/logout",
			   {"refresh_token": session_a["refresh_token"]},
			   token=session_a["access_token"])
	assert status == 200, body
	assert body == {"revoked": True}
	assert_error(*refresh(session_a["refresh_token"]), 401, "invalid_refresh_token")
	status, body = refresh(session_b["refresh_token"])
	assert status == 200, body


def test_logout_revokes_the_rotated_successors_of_the_session_too(account):
	email, _ = account
	first = login(email)
	status, second = refresh(first["refresh_token"])
	assert status == 200, second
	# Logging out with an older token of the family still ends the session.
	status, body = api("POST", "/api/v1/auth/logout", {"refresh_token": first["refresh_token"]},
			   token=second["access_token"])
	assert status == 200, body
	assert_error(*refresh(second["refresh_token"]), 401, "invalid_refresh_token")


def test_logout_without_body_revokes_every_session_of_the_user(account):
	email, _ = account
	sessions = [login(email) for _ in range(3)]
	status, body = api("POST", "/api/v1/auth/logout", token=sessions[0]["access_token"])
	assert status == 200, body
	assert body == {"revoked": True}
	for s in sessions:
		assert_error(*refresh(s["refresh_token"]), 401, "invalid_refresh_token")
	# Access tokens stay valid until they expire (documented).
	status, _ = me(sessions[1]["access_token"])
	assert status == 200


def test_logout_of_everything_does_not_touch_other_users(account):
	email, _ = account
	other_email, _ = register()
	mine = login(email)
	theirs = login(other_email)
	status, _ = api("POST", "/api/v1/auth/logout", token=mine["access_token"])
	assert status == 200
	status, body = refresh(theirs["refresh_token"])
	assert status == 200, body


def test_logout_cannot_revoke_another_users_session(account):
	email, _ = account
	other_email, _ = register()
	mine = login(email)
	theirs = login(other_email)
	status, _ = api("POST", "/api/v1/auth/logout", {"refresh_token": theirs["refresh_token"]},
			token=mine["access_token"])
	assert status in (200, 404), status
	status, body = refresh(theirs["refresh_token"])
	assert status == 200, body


def test_logout_requires_an_access_token(account):
	email, _ = account
	pair = login(email)
	assert_error(*api("POST", "/api/v1/auth/logout", {"refresh_token": pair["refresh_token"]}),
		     401, "unauthorized")
	status, body = refresh(pair["refresh_token"])
	assert status == 200, body


def test_logout_with_unknown_field_is_422_and_revokes_nothing(account):
	email, _ = account
	pair = login(email)
	assert_error(*api("POST", "/api/v1/auth/logout", {"everything": True},
			  token=pair["access_token"]), 422, "unknown_field")
	status, body = refresh(pair["refresh_token"])
	assert status == 200, body


# ---------------------------------------------------------------------------------------------
# Races settled by the database, across nodes.

def test_concurrent_registration_of_one_email_creates_exactly_one_account(cluster):
	email = unique_email("race")
	urls = cluster.node_urls

	def attempt(i):
		# Vary case and padding: they all normalize to the same address.
		variant = email.upper() if i % 3 == 1 else (" %s " % email if i % 3 == 2 else email)
		return api("POST", "/api/v1/auth/register",
			   {"email": variant, "password": "password-%d" % i}, base=urls[i % len(urls)],
			   timeout=60)

	results = run_concurrently(16, attempt)
	errors = [r for r in results if isinstance(r, Exception)]
	assert not errors, errors
	statuses = sorted(status for status, _ in results)
	assert statuses.count(201) == 1, statuses
	assert statuses.count(409) == 15, statuses
	for status, body in results:
		if status == 409:
			assert body["code"] == "email_taken", body
	# The one account that exists is the winner's: only its password logs in.
	winner = next(i for i, (status, _) in enumerate(results) if status == 201)
	body = login(email, "password-%d" % winner)
	assert body["access_token"]
	loser = (winner + 1) % 16
	status, body = api("POST", "/api/v1/auth/login",
			   {"email": email, "password": "password-%d" % loser})
	assert status == 401, body


def test_concurrent_refresh_of_one_token_rotates_at_most_once(cluster, account):
	email, _ = account
	pair = login(email)
	urls = cluster.node_urls

	def attempt(i):
		return refresh(pair["refresh_token"], base=urls[i % len(urls)])

	results = run_concurrently(8, attempt)
	errors = [r for r in results if isinstance(r, Exception)]
	assert not errors, errors
	statuses = [status for status, _ in results]
	assert all(s in (200, 401) for s in statuses), results
	assert statuses.count(200) == 1, statuses
	for status, body in results:
		if status == 401:
			assert body["code"] == "invalid_refresh_token", body
	# The losers presented a token that was already used: that is a replay, so the family,
	# including the winner's new refresh token, is revoked.
	winner_body = next(body for status, body in results if status == 200)
	assert_error(*refresh(winner_body["refresh_token"]), 401, "invalid_refresh_token")
