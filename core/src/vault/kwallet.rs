//! KWallet's quirk (kwalletd5's Secret Service, KDE Frameworks 5.97 and later): a wallet opened at a
//! KDE login (kwallet-pam opens it with the login password) is open to kwalletd5, but its Secret
//! Service collection reads `Locked` until a client asks `Unlock`; the prompt that `Unlock` returns
//! then completes at once, with no dialog, because the wallet is open. [`unlock_open_wallet`] does
//! exactly that, and only when kwalletd5 itself says the wallet is open (`org.kde.KWallet.isOpen`,
//! which never prompts): a closed wallet, or any other Secret Service, is left alone, so no password
//! dialog ever opens at the moment of a background refresh.

use std::time::{Duration, Instant};

use zbus::blocking::Connection;
use zbus::zvariant::{ObjectPath, OwnedObjectPath};

/// How long the collection may take to read unlocked once the prompt completed.
const SETTLE: Duration = Duration::from_secs(2);

/// When `collection` (the default collection, properties on a bus connection) belongs to an open
/// KWallet, unlocks it on the Secret Service side and returns whether it reads unlocked now.
pub(super) fn unlock_open_wallet(properties: &zbus::blocking::fdo::PropertiesProxy<'static>, collection: &str) -> bool {
    let bus = properties.inner().connection().clone();
    match try_unlock(&bus, properties, collection) {
        Ok(unlocked) => unlocked,
        Err(err) => {
            tracing::debug!("not an open KWallet, or it did not unlock: {err}");
            false
        }
    }
}

fn collection_property(properties: &zbus::blocking::fdo::PropertiesProxy<'static>, name: &str) -> zbus::Result<zbus::zvariant::OwnedValue> {
    Ok(properties.get(zbus::names::InterfaceName::from_static_str_unchecked("org.freedesktop.Secret.Collection"), name)?)
}

fn locked(properties: &zbus::blocking::fdo::PropertiesProxy<'static>) -> Option<bool> {
    collection_property(properties, "Locked").ok().and_then(|value| bool::try_from(value).ok())
}

fn try_unlock(bus: &Connection, properties: &zbus::blocking::fdo::PropertiesProxy<'static>, collection: &str) -> zbus::Result<bool> {
    // kwalletd5 running (never started here), and the wallet behind the collection open.
    let dbus = zbus::blocking::fdo::DBusProxy::new(bus)?;
    if !dbus.name_has_owner(zbus::names::BusName::from_static_str("org.kde.kwalletd5")?)? {
        return Ok(false);
    }
    let wallet: String = collection_property(properties, "Label")?.try_into().map_err(zbus::Error::Variant)?;
    let open: bool = bus
        .call_method(Some("org.kde.kwalletd5"), "/modules/kwalletd5", Some("org.kde.KWallet"), "isOpen", &(wallet.as_str(),))?
        .body()
        .deserialize()?;
    if !open {
        return Ok(false);
    }
    let target = ObjectPath::try_from(collection).map_err(zbus::Error::Variant)?;
    let reply = bus.call_method(
        Some("org.freedesktop.secrets"),
        "/org/freedesktop/secrets",
        Some("org.freedesktop.Secret.Service"),
        "Unlock",
        &(vec![target],),
    )?;
    let (_unlocked, prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) = reply.body().deserialize()?;
    if prompt.as_str() != "/" {
        bus.call_method(Some("org.freedesktop.secrets"), prompt.as_str(), Some("org.freedesktop.Secret.Prompt"), "Prompt", &("",))?;
    }
    // The prompt completes asynchronously: poll the property, bounded.
    let start = Instant::now();
    loop {
        match locked(properties) {
            Some(false) => return Ok(true),
            _ if start.elapsed() >= SETTLE => return Ok(false),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
