//! `offer-poller`'s client of the Offers service against the fake, and the
//! deployment's single access token.

use std::time::Duration;

use offer_poller::offers::{OffersClient, OffersError, Registration};
use offer_poller::token;
use platform::Clock;
use tests::offers::{Failure, OffersFake};
use tests::spawn_app;

fn client(fake: &OffersFake) -> OffersClient {
    OffersClient::new(fake.url.clone(), Duration::from_millis(500)).expect("a client")
}

fn registration() -> Registration {
    Registration {
        id: uuid::Uuid::now_v7(),
        name: "Benzinová sekačka Dosquarna".into(),
        description: "Nejlepší sekačka na trhu".into(),
    }
}

#[tokio::test]
async fn a_registered_product_lists_its_offers_and_registering_twice_is_no_error() {
    let fake = OffersFake::start().await;
    let client = client(&fake);
    let token = client.auth().await.expect("a token");
    let product = registration();

    client.register(&token, &product).await.expect("registered");
    client
        .register(&token, &product)
        .await
        .expect("a 409 counts as registered");
    let offers = client
        .offers(&token, product.id)
        .await
        .expect("an answer")
        .expect("known to the service");

    assert_eq!(offers.len(), 3);
    assert_eq!(fake.register_calls(&product.id.to_string()), 2);
    assert_eq!(
        fake.authorization_headers(),
        0,
        "the token goes in the Bearer header"
    );
}

#[tokio::test]
async fn an_unknown_product_has_no_offers_and_a_bad_token_is_refused() {
    let fake = OffersFake::start().await;
    let client = client(&fake);
    let token = client.auth().await.expect("a token");

    let unknown = client
        .offers(&token, uuid::Uuid::now_v7())
        .await
        .expect("an answer");
    let refused = client.register("not-a-token", &registration()).await;

    assert_eq!(unknown, None);
    assert!(
        matches!(refused, Err(OffersError::Unauthorized(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn failures_of_the_service_are_typed_errors() {
    let fake = OffersFake::start().await;
    let client = client(&fake);
    let token = client.auth().await.expect("a token");

    fake.fail(Some(Failure::NotJson));
    let not_json = client.offers(&token, uuid::Uuid::now_v7()).await;
    fake.fail(Some(Failure::ServerError));
    let server_error = client.register(&token, &registration()).await;
    fake.fail(Some(Failure::NotJson));
    let html_registration = client.register(&token, &registration()).await;
    fake.fail(Some(Failure::Redirect));
    let redirected = client.register(&token, &registration()).await;
    fake.fail(Some(Failure::Huge));
    let huge = client.offers(&token, uuid::Uuid::now_v7()).await;
    fake.fail(Some(Failure::Slow(Duration::from_secs(5))));
    let slow = client.auth().await;
    fake.fail(None);
    let gone = OffersClient::new(
        "http://127.0.0.1:1".parse().expect("a URL"),
        Duration::from_millis(500),
    )
    .expect("a client")
    .auth()
    .await;

    assert!(
        matches!(not_json, Err(OffersError::BadAnswer(_))),
        "{not_json:?}"
    );
    assert!(
        matches!(server_error, Err(OffersError::BadAnswer(_))),
        "{server_error:?}"
    );
    assert!(
        matches!(html_registration, Err(OffersError::BadAnswer(_))),
        "a 200 with HTML is not a registration: {html_registration:?}"
    );
    assert!(
        matches!(redirected, Err(OffersError::BadAnswer(_))),
        "a redirect is not followed, and is no registration: {redirected:?}"
    );
    assert!(
        matches!(&huge, Err(OffersError::BadAnswer(msg)) if msg.contains("larger than")),
        "an answer over 1 MiB is refused: {huge:?}"
    );
    assert!(matches!(slow, Err(OffersError::Timeout)), "{slow:?}");
    assert!(matches!(gone, Err(OffersError::Unreachable(_))), "{gone:?}");
}

#[tokio::test]
async fn the_access_token_is_asked_for_once_however_many_pollers_start_together() {
    let app = spawn_app().await;
    let fake = OffersFake::start().await;
    let client = client(&fake);
    let clock = Clock::system();

    let tokens = futures_util::future::join_all(
        (0..8).map(|_| token::access_token(&app.state.db, &clock, &client)),
    )
    .await;
    let again = token::access_token(&app.state.db, &clock, &client).await;

    let tokens: Vec<String> = tokens.into_iter().map(|t| t.expect("a token")).collect();
    assert!(
        tokens.iter().all(|t| !t.is_empty() && *t == tokens[0]),
        "{tokens:?}"
    );
    assert_eq!(again.expect("a token"), tokens[0]);
    assert_eq!(fake.auth_calls(), 1);
}

#[tokio::test]
async fn a_token_request_that_stalled_past_its_claim_stores_nothing_and_uses_the_token_stored() {
    use catalog_entities::offers_token;
    use sea_orm::EntityTrait;
    let app = spawn_app().await;
    let fake = OffersFake::start().await;
    let client = OffersClient::new(fake.url.clone(), Duration::from_secs(10)).expect("a client");
    let clock = Clock::frozen_at_micros(1_000_000_000_000);
    fake.fail(Some(Failure::Slow(Duration::from_millis(1_500))));

    let stalled = tokio::spawn({
        let (db, clock, client) = (app.state.db.clone(), clock.clone(), client.clone());
        async move { token::access_token(&db, &clock, &client).await }
    });
    // Once its claim is in, the claim's 30 s pass while `/auth` is slow.
    while offers_token::Entity::find()
        .one(&app.state.db)
        .await
        .expect("read the token row")
        .is_none()
    {
        tokio::task::yield_now().await;
    }
    clock.advance(Duration::from_secs(31));
    let taking_over = token::access_token(&app.state.db, &clock, &client)
        .await
        .expect("a token");
    let stalled = stalled.await.expect("joined").expect("a token");
    let stored = offers_token::Entity::find()
        .one(&app.state.db)
        .await
        .expect("read the token row")
        .expect("the token row");

    assert_eq!(fake.auth_calls(), 2, "the stalled request was taken over");
    assert_eq!(
        stored.token, taking_over,
        "the one who held the claim stored"
    );
    assert_eq!(
        stalled, taking_over,
        "the stalled one uses the stored token"
    );
}
