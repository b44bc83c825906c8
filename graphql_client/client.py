"""A typed client: one method per documented operation, each returning a validated model."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from graphql_client.models import (
    Consumer,
    ConsumerAvailablePromotions,
    Consumers,
    ObtainToken,
    PurchaseHistory,
    SignUp,
    drop_none,
)
from graphql_client.operations import document

M = TypeVar("M", bound=BaseModel)


class GraphQLClientError(Exception):
    """The server answered with GraphQL errors (or not with GraphQL at all)."""

    def __init__(self, message: str, errors: list[dict[str, Any]], status_code: int) -> None:
        super().__init__(message)
        self.errors = errors
        self.status_code = status_code


class Client:
    """Runs the documented operations against `url`, authenticated with `token` if set."""

    def __init__(self, url: str, token: str | None = None, http_client: httpx.Client | None = None) -> None:
        self.url = url
        self.token = token
        self._http = http_client or httpx.Client(timeout=30)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        """POST one document; the raw response, for callers that check shapes themselves."""
        headers = {"Authorization": f"JWT {self.token}"} if self.token else {}
        body: dict[str, Any] = {"query": query}
        if variables:
            body["variables"] = variables
        return self._http.post(self.url, json=body, headers=headers)

    def _run(self, model: type[M], operation: str, variables: dict[str, Any] | None = None) -> M:
        response = self.execute(document(operation), variables)
        try:
            payload = response.json()
        except ValueError:
            raise GraphQLClientError(response.text, [], response.status_code) from None
        errors = payload.get("errors") or []
        if errors or payload.get("data") is None:
            message = "; ".join(str(e.get("message")) for e in errors) or "no data"
            raise GraphQLClientError(message, errors, response.status_code)
        return model.model_validate(payload["data"])

    def sign_up(
        self,
        email: str,
        password: str,
        firstname: str,
        lastname: str,
        user_type: str,
        merchant_type: str | None = None,
        phone_number: str | None = None,
        birthday: str | None = None,
        country: str | None = None,
        city: str | None = None,
        street: str | None = None,
        zip_code: str | None = None,
        gender: str | None = None,
    ) -> SignUp:
        variables = drop_none(
            {
                "email": email,
                "password": password,
                "firstname": firstname,
                "lastname": lastname,
                "userType": user_type,
                "merchantType": merchant_type,
                "phoneNumber": phone_number,
                "birthday": birthday,
                "country": country,
                "city": city,
                "street": street,
                "zipCode": zip_code,
                "gender": gender,
            }
        )
        return self._run(SignUp, "sign_up", variables)

    def obtain_token(self, email: str, password: str) -> ObtainToken:
        """Log in; on success the client keeps the token for the calls that follow."""
        result = self._run(ObtainToken, "obtain_token", {"email": email, "password": password})
        if result.obtain_token.token:
            self.token = result.obtain_token.token
        return result

    def consumers(self) -> Consumers:
        return self._run(Consumers, "consumers")

    def consumer(self) -> Consumer:
        """The documented document asks for customer 177 (`SVVzZXJOb2RlOjE3Nw==`)."""
        return self._run(Consumer, "consumer")

    def consumer_available_promotions(
        self,
        consumer_loyalty_id: str | None = None,
        consumer_email: str | None = None,
        consumer_phone_number: str | None = None,
        store_id: str | None = None,
    ) -> ConsumerAvailablePromotions:
        variables = drop_none(
            {
                "consumerLoyaltyId": consumer_loyalty_id,
                "consumerEmail": consumer_email,
                "consumerPhoneNumber": consumer_phone_number,
                "storeId": store_id,
            }
        )
        return self._run(ConsumerAvailablePromotions, "consumer_available_promotions", variables)

    def purchase_history(self, id: str, store_id: str | None = None) -> PurchaseHistory:
        variables = drop_none({"id": id, "storeId": store_id})
        return self._run(PurchaseHistory, "purchase_history", variables)
