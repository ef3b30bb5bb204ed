"""One session through the client openapi-python-client generated from
Mercato's public OpenAPI document: log in, create a product, read it back.

    use_client.py BASE_URL USERNAME PASSWORD

Fails (exit 1) if any call does not answer as the document says. Run by
scripts/check-api, with the generated package on PYTHONPATH.
"""

import sys

from mercato_client import AuthenticatedClient, Client
from mercato_client.api.accounts import login, me
from mercato_client.api.products import create_product, get_product
from mercato_client.models import Credentials, NewProduct, Product, ProductWithOffers, Token


def main(base_url: str, username: str, password: str) -> None:
    token = login.sync(
        client=Client(base_url=base_url),
        body=Credentials(username=username, password=password),
    )
    assert isinstance(token, Token), f"login answered {token!r}"
    client = AuthenticatedClient(base_url=base_url, token=token.token)

    account = me.sync(client=client)
    assert account is not None and account.username == username, account

    created = create_product.sync(
        client=client, body=NewProduct(name="Generated-client kettle", description="1.7 l")
    )
    assert isinstance(created, Product), f"create_product answered {created!r}"
    found = get_product.sync(client=client, id=created.id)
    assert isinstance(found, ProductWithOffers), f"get_product answered {found!r}"
    assert found.name == "Generated-client kettle", found
    print(f"generated client: logged in as {account.username} ({account.role}), product {found.id} created and read back")


if __name__ == "__main__":
    main(*sys.argv[1:4])
