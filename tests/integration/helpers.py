"""Account helpers shared by the integration suites (conftest provides only the transport)."""
import uuid

from conftest import api

PASSWORD = "correct horse battery"


class User:
	def __init__(self, email, id, token):
		self.email = email
		self.id = id
		self.token = token

	def __repr__(self):
		return "<User %s>" % self.email


def new_user(tag="it"):
	"""Registers and logs in a fresh user; returns its email, id and access token."""
	email = "%s-%s@example.com" % (tag, uuid.uuid4().hex[:16])
	status, body = api("POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
	assert status == 201, (status, body)
	user_id = body["id"]
	status, body = api("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
	assert status == 200, (status, body)
	return User(email, user_id, body["access_token"])
