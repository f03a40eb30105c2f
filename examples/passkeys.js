// The passkey example page: register, log in, list and delete, against authsvc's API.
// The API's base URL is ?api=... (default: this page's own origin).
"use strict";

const API = new URLSearchParams(location.search).get("api") || location.origin;
const BASE = API + "/api/v1/auth/passkeys";
const $ = (id) => document.getElementById(id);
window.passkeyResults = [];  // every outcome, newest last (the browser tests read it)

function show(step, outcome) {
  const entry = {step, ...outcome};
  window.passkeyResults.push(entry);
  const result = $("result");
  result.textContent = JSON.stringify(entry, null, 2);
  result.className = entry.ok ? "ok" : "failed";
}

function failure(error) {
  return {ok: false, status: error.status || null, error: `${error.name}: ${error.message}`};
}

async function call(url, {method = "POST", body, token} = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = "Bearer " + token;
  const reply = await fetch(url, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const data = reply.status === 204 ? null : await reply.json();
  if (!reply.ok) {
    const error = new Error((data && data.detail) || reply.statusText);
    error.name = "ApiError";
    error.status = reply.status;
    throw error;
  }
  return data;
}

function claimsOf(jwt) {
  const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part));
}

async function register() {
  const token = $("token").value.trim();
  const name = $("name").value.trim();
  const named = name ? {name} : {};
  try {
    const options = await call(BASE + "/register/options", {body: named, token});
    const credential = await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
    });
    const passkey = await call(BASE + "/register", {body: {credential: credential.toJSON(), ...named}, token});
    await list();
    show("register", {ok: true, passkey});
  } catch (error) {
    show("register", failure(error));
  }
}

async function login() {
  const username = $("username").value.trim();
  try {
    const options = await call(BASE + "/login/options", {body: username ? {username} : {}});
    const credential = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
    });
    const pair = await call(BASE + "/login", {body: {credential: credential.toJSON()}});
    $("token").value = pair.access_token;
    const me = await call(API + "/api/v1/users/me", {method: "GET", token: pair.access_token});
    await list();  // first, so the page is settled when the result shows
    show("login", {ok: true, discoverable: !username, amr: claimsOf(pair.access_token).amr, me});
  } catch (error) {
    show("login", failure(error));
  }
}

async function list() {
  const token = $("token").value.trim();
  const items = $("passkeys");
  try {
    const passkeys = await call(BASE, {method: "GET", token});
    items.replaceChildren(...passkeys.map((passkey) => {
      const item = document.createElement("li");
      const used = passkey.last_used_at ? `last used ${passkey.last_used_at}` : "never used";
      item.textContent = `${passkey.name} (created ${passkey.created_at}, ${used})`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Delete";
      remove.dataset.id = passkey.id;
      remove.addEventListener("click", () => removePasskey(passkey.id));
      item.append(remove);
      return item;
    }));
    window.passkeyList = passkeys;
  } catch (error) {
    show("list", failure(error));
  }
}

async function removePasskey(id) {
  try {
    await call(`${BASE}/${id}`, {method: "DELETE", token: $("token").value.trim()});
    await list();
    show("delete", {ok: true, id});
  } catch (error) {
    show("delete", failure(error));
  }
}

$("api").textContent = API;
$("register").addEventListener("click", register);
$("login").addEventListener("click", login);
$("list").addEventListener("click", list);
