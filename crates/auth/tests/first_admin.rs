//! A new install gets exactly one first admin, who can sign in with what was configured or
//! with the one-time password printed once.

use std::time::Duration;

use rapport_auth::Authenticator;
use rapport_store::testing::TestDb;

#[tokio::test]
async fn a_new_install_gets_one_admin_with_a_one_time_password() {
    let db = TestDb::sqlite().await;
    let auth = Authenticator::new(db.store.clone(), Duration::from_secs(3600));
    let first = auth
        .ensure_first_admin(None, None)
        .await
        .expect("created")
        .expect("a new install");
    assert_eq!(first.email, "admin@localhost");
    let password = first.one_time_password.expect("a one-time password");
    assert!(password.len() >= 16);
    let signed = auth
        .sign_in("admin@localhost", &password, "127.0.0.1")
        .await
        .expect("the one-time password works");
    assert!(signed.caller.is_admin());
    assert!(
        auth.ensure_first_admin(Some("x@y.z"), Some("another password"))
            .await
            .expect("checked")
            .is_none(),
        "nothing happens once someone exists"
    );
    db.cleanup().await;
}

#[tokio::test]
async fn a_configured_admin_uses_the_configured_password() {
    let db = TestDb::sqlite().await;
    let auth = Authenticator::new(db.store.clone(), Duration::from_secs(3600));
    let first = auth
        .ensure_first_admin(Some("Owner@Acme.test"), Some("a very long password"))
        .await
        .expect("created")
        .expect("a new install");
    assert_eq!(first.email, "owner@acme.test");
    assert!(first.one_time_password.is_none());
    auth.sign_in("owner@acme.test", "a very long password", "::1")
        .await
        .expect("signs in");
    assert!(
        auth.sign_in("owner@acme.test", "wrong password!!", "::1")
            .await
            .is_err()
    );
    db.cleanup().await;
}
