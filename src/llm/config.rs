//! Endpoint profiles from `mmprompt.toml`, and how flags override them.
//!
//! The file is looked for, first match wins: `--config FILE`, `$MMPROMPT_CONFIG`,
//! `./mmprompt.toml`, `$XDG_CONFIG_HOME/mmprompt/mmprompt.toml` (or
//! `~/.config/mmprompt/mmprompt.toml`). It never holds keys, only the names of the
//! variables that do:
//!
//! ```toml
//! default = "local"
//!
//! [profiles.local]
//! provider = "openai"
//! endpoint = "http://127.0.0.1:8080"
//! model = "smollm2-135m"
//!
//! [profiles.claude]
//! provider = "anthropic"
//! model = "claude-sonnet-4-5"
//! api_key_env = "ANTHROPIC_API_KEY"
//! ```

use super::{LlmError, Provider};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One named endpoint.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Request format.
    pub provider: Option<String>,
    /// Base URL.
    pub endpoint: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Name of the environment variable holding the key.
    pub api_key_env: Option<String>,
}

/// The config file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The profile used when none is named.
    pub default: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// A config file and where it came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Its path, when one was found.
    pub path: Option<PathBuf>,
    /// Its content.
    pub file: ConfigFile,
}

/// Where the config file is looked for, in order, without `--config`.
pub fn search_paths() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("MMPROMPT_CONFIG").filter(|p| !p.is_empty()) {
        v.push(PathBuf::from(p));
    }
    v.push(PathBuf::from("mmprompt.toml"));
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        v.push(PathBuf::from(x).join("mmprompt/mmprompt.toml"));
    } else if let Some(h) = std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        v.push(PathBuf::from(h).join(".config/mmprompt/mmprompt.toml"));
    }
    v
}

impl Config {
    /// Loads `explicit` (which must exist) or the first file on [`search_paths`] (none is
    /// fine).
    ///
    /// # Errors
    /// [`LlmError::Config`] naming the file when `explicit` cannot be read, or a config file
    /// found does not parse.
    pub fn load(explicit: Option<&Path>) -> Result<Self, LlmError> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => search_paths().into_iter().find(|p| p.is_file()),
        };
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| LlmError::Config(format!("{}: cannot read: {e}", path.display())))?;
        let file: ConfigFile = toml::from_str(&text)
            .map_err(|e| LlmError::Config(format!("{}: {}", path.display(), e.message())))?;
        Ok(Self {
            path: Some(path),
            file,
        })
    }

    /// The named profile, or the default one, or none.
    ///
    /// # Errors
    /// [`LlmError::Config`] when there is no profile of that name (or no default), saying which
    /// profiles there are.
    pub fn profile(&self, name: Option<&str>) -> Result<Profile, LlmError> {
        let where_ = || {
            self.path
                .as_ref()
                .map_or("no config file was found".to_string(), |p| {
                    p.display().to_string()
                })
        };
        match name.or(self.file.default.as_deref()) {
            None => Ok(Profile::default()),
            Some(n) => self.file.profiles.get(n).cloned().ok_or_else(|| {
                let known: Vec<_> = self.file.profiles.keys().cloned().collect();
                LlmError::Config(format!(
                    "no profile {n:?} in {} (profiles: {})",
                    where_(),
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ))
            }),
        }
    }
}

/// A fully decided endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Request format.
    pub provider: Provider,
    /// Base URL.
    pub base_url: String,
    /// Model name.
    pub model: String,
    /// The key variable, if the endpoint takes a key.
    pub api_key_env: Option<String>,
}

/// Flags that override a profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--provider`.
    pub provider: Option<Provider>,
    /// `--endpoint`.
    pub endpoint: Option<String>,
    /// `--model`.
    pub model: Option<String>,
    /// `--api-key-env`.
    pub api_key_env: Option<String>,
}

impl Endpoint {
    /// Flags over profile over provider defaults.
    ///
    /// # Errors
    /// [`LlmError::Config`] when the provider, endpoint or model is missing or not usable.
    pub fn resolve(profile: &Profile, flags: &Overrides) -> Result<Self, LlmError> {
        let provider = match (flags.provider, &profile.provider) {
            (Some(p), _) => p,
            (None, Some(s)) => s.parse().map_err(LlmError::Config)?,
            (None, None) => {
                return Err(LlmError::Config(
                    "no provider: give --provider, or --profile with a provider".into(),
                ))
            }
        };
        let base_url = flags
            .endpoint
            .clone()
            .or_else(|| profile.endpoint.clone())
            .unwrap_or_else(|| provider.default_endpoint().to_string());
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(LlmError::Config(format!(
                "endpoint {base_url:?} is not an http:// or https:// URL"
            )));
        }
        let model = flags
            .model
            .clone()
            .or_else(|| profile.model.clone())
            .ok_or_else(|| {
                LlmError::Config("no model: give --model, or a profile with a model".into())
            })?;
        let api_key_env = flags
            .api_key_env
            .clone()
            .or_else(|| profile.api_key_env.clone())
            .or_else(|| provider.default_key_env().map(str::to_string));
        Ok(Self {
            provider,
            base_url,
            model,
            api_key_env,
        })
    }

    /// Reads the key from the environment. A local endpoint (loopback) may go without one;
    /// a remote one may not.
    ///
    /// # Errors
    /// [`LlmError::MissingKey`] when the provider needs a key and its variable is unset or
    /// empty.
    pub fn api_key(&self) -> Result<Option<String>, LlmError> {
        let Some(var) = &self.api_key_env else {
            return Ok(None);
        };
        match std::env::var(var) {
            Ok(k) if !k.trim().is_empty() => Ok(Some(k.trim().to_string())),
            _ if self.is_local() => Ok(None),
            _ => Err(LlmError::MissingKey { var: var.clone() }),
        }
    }

    /// Whether the endpoint is on this machine: `localhost` or a loopback address
    /// (127.0.0.0/8, `[::1]`).
    pub fn is_local(&self) -> bool {
        let rest = self
            .base_url
            .split_once("://")
            .map_or(self.base_url.as_str(), |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        // Credentials before an `@` are not the host.
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match hostport.strip_prefix('[') {
            // An IPv6 literal holds colons of its own; only `]` ends it.
            Some(v6) => match v6.split_once(']') {
                Some((addr, _)) => addr,
                None => return false,
            },
            None => hostport.split(':').next().unwrap_or(""),
        };
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_profile_over_defaults() {
        let file: ConfigFile = toml::from_str(
            "default = \"a\"\n[profiles.a]\nprovider = \"anthropic\"\nmodel = \"m1\"\n\
             [profiles.b]\nprovider = \"ollama\"\nendpoint = \"http://127.0.0.1:1\"\nmodel = \"m2\"\n",
        )
        .unwrap();
        let cfg = Config { path: None, file };
        let a = Endpoint::resolve(&cfg.profile(None).unwrap(), &Overrides::default()).unwrap();
        assert_eq!(a.provider, Provider::Anthropic);
        assert_eq!(a.base_url, "https://api.anthropic.com");
        assert_eq!(a.api_key_env.as_deref(), Some("ANTHROPIC_API_KEY"));
        let b = Endpoint::resolve(
            &cfg.profile(Some("b")).unwrap(),
            &Overrides {
                model: Some("m3".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((b.provider, b.model.as_str()), (Provider::Ollama, "m3"));
        assert!(b.is_local());
        assert!(b.api_key().unwrap().is_none());
        let e = cfg.profile(Some("zz")).unwrap_err().to_string();
        assert!(e.contains("\"zz\"") && e.contains("a, b"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_urls_are_errors() {
        assert!(toml::from_str::<ConfigFile>("[profiles.a]\nmodle = \"x\"\n").is_err());
        let p = Profile {
            provider: Some("openai".into()),
            endpoint: Some("127.0.0.1:8080".into()),
            model: Some("m".into()),
            api_key_env: None,
        };
        assert!(Endpoint::resolve(&p, &Overrides::default()).is_err());
    }

    fn config_error(r: Result<impl std::fmt::Debug, LlmError>) -> String {
        match r {
            Err(LlmError::Config(m)) => m,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn loading_names_the_file_in_every_error() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[profiles.a\nprovider = \"openai\"\n").unwrap();
        let m = config_error(Config::load(Some(&bad)));
        assert!(m.starts_with(&format!("{}: ", bad.display())), "{m}");
        let typed = dir.path().join("typed.toml");
        std::fs::write(&typed, "[profiles.a]\nmodel = 3\n").unwrap();
        let m = config_error(Config::load(Some(&typed)));
        assert!(m.starts_with(&format!("{}: ", typed.display())), "{m}");
        let top = dir.path().join("top.toml");
        std::fs::write(&top, "defualt = \"a\"\n").unwrap();
        assert!(config_error(Config::load(Some(&top))).contains("defualt"));
        let missing = dir.path().join("missing.toml");
        let m = config_error(Config::load(Some(&missing)));
        assert!(
            m.starts_with(&format!("{}: cannot read: ", missing.display())),
            "{m}"
        );
        let good = dir.path().join("good.toml");
        std::fs::write(
            &good,
            "default = \"l\"\n[profiles.l]\nprovider = \"ollama\"\nmodel = \"q\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&good)).unwrap();
        assert_eq!(c.path.as_deref(), Some(good.as_path()));
        assert_eq!(c.file.default.as_deref(), Some("l"));
        assert_eq!(c.profile(None).unwrap().model.as_deref(), Some("q"));
        // A missing profile names the file it was looked for in.
        let m = config_error(c.profile(Some("x")));
        assert_eq!(
            m,
            format!("no profile \"x\" in {} (profiles: l)", good.display())
        );
    }

    #[test]
    fn without_a_file_there_are_no_profiles() {
        let c = Config::default();
        assert_eq!(c.profile(None).unwrap(), Profile::default());
        assert_eq!(
            config_error(c.profile(Some("x"))),
            "no profile \"x\" in no config file was found (profiles: none)"
        );
    }

    #[test]
    fn resolving_needs_a_known_provider_and_a_model() {
        let none = Profile::default();
        let m = config_error(Endpoint::resolve(&none, &Overrides::default()));
        assert!(m.starts_with("no provider"), "{m}");
        let typo = Profile {
            provider: Some("opneai".into()),
            model: Some("m".into()),
            ..Profile::default()
        };
        let m = config_error(Endpoint::resolve(&typo, &Overrides::default()));
        assert!(m.starts_with("unknown provider \"opneai\""), "{m}");
        // A flag's provider wins over a broken profile's.
        let flags = Overrides {
            provider: Some(Provider::Gemini),
            ..Overrides::default()
        };
        let e = Endpoint::resolve(&typo, &flags).unwrap();
        assert_eq!(e.provider, Provider::Gemini);
        assert_eq!(e.base_url, "https://generativelanguage.googleapis.com");
        assert_eq!(e.api_key_env.as_deref(), Some("GEMINI_API_KEY"));
        let no_model = Profile {
            provider: Some("openai".into()),
            ..Profile::default()
        };
        let m = config_error(Endpoint::resolve(&no_model, &Overrides::default()));
        assert!(m.starts_with("no model"), "{m}");
        let m = config_error(Endpoint::resolve(
            &no_model,
            &Overrides {
                model: Some("m".into()),
                endpoint: Some("ftp://h".into()),
                ..Overrides::default()
            },
        ));
        assert_eq!(m, "endpoint \"ftp://h\" is not an http:// or https:// URL");
    }

    #[test]
    fn flags_override_each_field_of_a_profile() {
        let p = Profile {
            provider: Some("openai".into()),
            endpoint: Some("http://127.0.0.1:8080".into()),
            model: Some("p-model".into()),
            api_key_env: Some("PROFILE_KEY".into()),
        };
        let e = Endpoint::resolve(&p, &Overrides::default()).unwrap();
        assert_eq!(
            e,
            Endpoint {
                provider: Provider::OpenAi,
                base_url: "http://127.0.0.1:8080".into(),
                model: "p-model".into(),
                api_key_env: Some("PROFILE_KEY".into()),
            }
        );
        let flags = Overrides {
            provider: Some(Provider::Anthropic),
            endpoint: Some("https://proxy.example".into()),
            model: Some("f-model".into()),
            api_key_env: Some("FLAG_KEY".into()),
        };
        let e = Endpoint::resolve(&p, &flags).unwrap();
        assert_eq!(
            e,
            Endpoint {
                provider: Provider::Anthropic,
                base_url: "https://proxy.example".into(),
                model: "f-model".into(),
                api_key_env: Some("FLAG_KEY".into()),
            }
        );
    }

    fn endpoint(url: &str, key_env: Option<&str>) -> Endpoint {
        Endpoint {
            provider: Provider::OpenAi,
            base_url: url.into(),
            model: "m".into(),
            api_key_env: key_env.map(str::to_string),
        }
    }

    #[test]
    fn local_endpoints_are_loopback_hosts_only() {
        for u in [
            "http://127.0.0.1",
            "http://127.0.0.1:8080/v1",
            "http://localhost:11434",
            "http://[::1]:8080",
            "http://127.0.0.2/v1",
            "https://LOCALHOST:1/x",
            "http://user:pw@127.0.0.1:1",
        ] {
            assert!(endpoint(u, None).is_local(), "{u}");
        }
        for u in [
            "https://api.openai.com",
            "http://127.0.0.1.example.com",
            "http://localhost.example.com:80",
            "http://10.0.0.1:8080",
            // IPv6 literals other than ::1, which a host split at the first `:` took for local.
            "http://[::2]:80",
            "http://[::ffff:8.8.8.8]/v1",
            "http://[2001:db8::1]",
            "http://[::1",
            "http://127.0.0.1@evil.example.com",
        ] {
            assert!(!endpoint(u, None).is_local(), "{u}");
        }
    }

    #[test]
    fn a_missing_key_is_an_error_only_for_remote_endpoints() {
        // A variable no environment sets; nothing here sets any variable.
        let unset = "MMPROMPT_UNIT_TEST_KEY_THAT_IS_NEVER_SET";
        assert!(std::env::var_os(unset).is_none());
        let e = endpoint("https://api.openai.com", Some(unset))
            .api_key()
            .unwrap_err();
        assert_eq!(e.code(), "missing_api_key");
        assert!(e.to_string().contains(unset), "{e}");
        assert_eq!(
            endpoint("http://127.0.0.1:1", Some(unset))
                .api_key()
                .unwrap(),
            None
        );
        assert_eq!(
            endpoint("https://api.openai.com", None).api_key().unwrap(),
            None
        );
        // A set variable is read (PATH is set wherever cargo runs).
        let path = std::env::var("PATH").unwrap();
        assert_eq!(
            endpoint("https://api.openai.com", Some("PATH"))
                .api_key()
                .unwrap(),
            Some(path.trim().to_string())
        );
    }
}
