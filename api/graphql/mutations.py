"""The account mutations: register, verifyAccount, obtainToken, refreshToken, revokeToken, verifyToken."""

from __future__ import annotations

import asyncio
from typing import Annotated

import strawberry

from api.auth import (
    NON_FIELD,
    NotAuthenticatedError,
    SignUp,
    TokenError,
    decode_access_token,
    issue_access_token,
    load_viewer,
    obtain_token,
    public_payload,
    register,
    revoke_refresh_token,
    rotate_refresh_token,
    single,
    verify_account,
)
from api.graphql.loaders import customers_by_pk
from api.graphql.scalars import ExpectedErrorType, JSONString
from api.graphql.types import Ctx, IUserNode
from models import utcnow
from sync.jobs import unlink_spotify


@strawberry.type
class RegisterPayload:
    success: bool
    errors: ExpectedErrorType | None
    token: str | None
    refresh_token: str | None
    verification_required: bool = strawberry.field(
        description="True when the e-mail belongs to an existing customer: verify before login."
    )


@strawberry.type
class ObtainTokenPayload:
    success: bool
    errors: ExpectedErrorType | None
    token: str | None
    refresh_token: str | None
    user: IUserNode | None


@strawberry.type
class RefreshTokenPayload:
    success: bool
    errors: ExpectedErrorType | None
    token: str | None
    refresh_token: str | None
    payload: JSONString | None


@strawberry.type
class RevokeTokenPayload:
    success: bool
    errors: ExpectedErrorType | None
    revoked: int | None


@strawberry.type
class VerifyTokenPayload:
    success: bool
    errors: ExpectedErrorType | None
    payload: JSONString | None


@strawberry.type
class UnlinkSpotifyPayload:
    success: bool
    errors: ExpectedErrorType | None
    unlinked: int | None = strawberry.field(description="How many Spotify links were removed.")


@strawberry.type
class VerifyAccountPayload:
    success: bool
    errors: ExpectedErrorType | None


def _errors(code: str, message: str) -> ExpectedErrorType:
    return ExpectedErrorType(single(NON_FIELD, code, message))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Sign up as a CONSUMER or a MERCHANT.")
    async def register(
        self,
        info: Ctx,
        email: str,
        password1: str,
        password2: str,
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
    ) -> RegisterPayload:
        form = SignUp(
            email=email,
            password1=password1,
            password2=password2,
            firstname=firstname,
            lastname=lastname,
            user_type=user_type,
            merchant_type=merchant_type,
            phone_number=phone_number,
            birthday=birthday,
            country=country,
            city=city,
            street=street,
            zip_code=zip_code,
            gender=gender,
        )
        ctx = info.context
        result = await ctx.write(register, ctx.settings, ctx.services.mailer, form)
        return RegisterPayload(
            success=result.success,
            errors=ExpectedErrorType(result.errors) if result.errors else None,
            token=result.token,
            refresh_token=result.refresh_token,
            verification_required=result.verification_required,
        )

    @strawberry.mutation(description="Confirm the e-mail address with the token that was mailed.")
    async def verify_account(self, info: Ctx, token: str) -> VerifyAccountPayload:
        errors = await info.context.write(verify_account, info.context.settings, token)
        return VerifyAccountPayload(
            success=errors is None, errors=ExpectedErrorType(errors) if errors else None
        )

    @strawberry.mutation(description="Log in: an access token and a refresh token.")
    async def obtain_token(self, info: Ctx, email: str, password: str) -> ObtainTokenPayload:
        ctx = info.context
        result = await ctx.write(obtain_token, ctx.settings, email, password)
        user = None
        if result.customer_pk is not None:
            row = (await ctx.read(customers_by_pk, [result.customer_pk])).get(result.customer_pk)
            user = IUserNode.from_row(row) if row is not None else None
        return ObtainTokenPayload(
            success=result.success,
            errors=ExpectedErrorType(result.errors) if result.errors else None,
            token=result.token,
            refresh_token=result.refresh_token,
            user=user,
        )

    @strawberry.mutation(description="Trade a refresh token for a new pair; the old one is spent.")
    async def refresh_token(
        self, info: Ctx, refresh_token: Annotated[str, strawberry.argument(name="refreshToken")]
    ) -> RefreshTokenPayload:
        ctx = info.context
        rotation = await ctx.write(rotate_refresh_token, ctx.settings, refresh_token)
        if rotation.error is not None or rotation.customer_pk is None or rotation.family is None:
            error = rotation.error or TokenError("invalid_token", "Invalid refresh token")
            return RefreshTokenPayload(
                success=False,
                errors=_errors(error.code, str(error)),
                token=None,
                refresh_token=None,
                payload=None,
            )
        customer_pk, new_refresh, family = (
            rotation.customer_pk,
            rotation.refresh_token,
            rotation.family,
        )
        row = (await ctx.read(customers_by_pk, [customer_pk])).get(customer_pk)
        email = row.email if row is not None else None
        token = issue_access_token(ctx.settings, customer_pk, email, family, utcnow())
        claims = decode_access_token(ctx.settings, token)
        return RefreshTokenPayload(
            success=True,
            errors=None,
            token=token,
            refresh_token=new_refresh,
            payload=JSONString(public_payload(claims)),
        )

    @strawberry.mutation(description="Log out: revoke a refresh token and its session's tokens.")
    async def revoke_token(
        self, info: Ctx, refresh_token: Annotated[str, strawberry.argument(name="refreshToken")]
    ) -> RevokeTokenPayload:
        try:
            revoked = await info.context.write(revoke_refresh_token, refresh_token)
        except TokenError as exc:
            return RevokeTokenPayload(success=False, errors=_errors(exc.code, str(exc)), revoked=None)
        return RevokeTokenPayload(success=True, errors=None, revoked=revoked)

    @strawberry.mutation(
        description="Unlink the caller's Spotify account: its tokens are deleted, its Spotify data tombstoned."
    )
    async def unlink_spotify(self, info: Ctx) -> UnlinkSpotifyPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        # A run of its own (spotify/profiles, trigger `unlink`): the store is written through the pipeline.
        unlinked = await asyncio.to_thread(unlink_spotify, ctx.settings, viewer.pk)
        return UnlinkSpotifyPayload(success=True, errors=None, unlinked=unlinked)

    @strawberry.mutation(description="Check an access token: valid, unexpired and not revoked.")
    async def verify_token(self, info: Ctx, token: str) -> VerifyTokenPayload:
        ctx = info.context
        try:
            await ctx.read(load_viewer, ctx.settings, token)
        except NotAuthenticatedError as exc:
            return VerifyTokenPayload(
                success=False, errors=_errors("invalid_token", exc.message), payload=None
            )
        claims = decode_access_token(ctx.settings, token)
        return VerifyTokenPayload(success=True, errors=None, payload=JSONString(public_payload(claims)))
