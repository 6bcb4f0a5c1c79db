// The page's behaviour: draw on the canvas, post the drawing to this app's POST /v1/predict as a PNG, show
// the answer. The page converts nothing: the app turns the PNG into the model's 8x8 input (app/images.py),
// exactly as it does for any uploaded image, so a drawing and an upload can never be read differently.
"use strict";

// In canvas pixels (the canvas is 256 x 256, the model reads it as 8 x 8 cells of 32): a stroke about as
// thick, for the square, as the strokes of the scans the model was trained on.
const PEN_WIDTH = 24;
const PAPER = "#ffffff";
const INK = "#111111";

// With sign-in on, the app answers 401 without an Entra ID access token. The page then asks for one (the
// "Sign in" section) and keeps it here, in this tab's memory only: never in storage or a cookie, gone on reload.
let token = null;

// A 401: the app wants a (new) token. callApi shows the sign-in section before throwing it.
class SignInNeeded extends Error {}

// Every request to the app goes through here: the one place that sends the token
// (`Authorization: Bearer`, when the user gave one) and that notices the app asking for one.
async function callApi(path, options = {}) {
  const headers = new Headers(options.headers);
  headers.set("Accept", "application/json");
  if (token !== null) {
    headers.set("Authorization", `Bearer ${token}`);
  }
  const response = await fetch(path, { ...options, headers, cache: "no-store", credentials: "same-origin" });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null; // not JSON (a proxy's error page): reported by status below
  }
  if (!response.ok) {
    const reason = body && body.error ? body.error.message : `the app answered HTTP ${response.status}`;
    if (response.status === 401) {
      askForToken(reason);
      throw new SignInNeeded("sign in first: paste an access token above");
    }
    throw new Error(reason);
  }
  return body;
}

const signIn = document.getElementById("signin");
const signInForm = document.getElementById("signin-form");
const tokenInput = document.getElementById("token");

// Show the sign-in section with why (the app's words) and how to get a token: the command is in the API's
// description, /openapi.json (the bearer scheme's x-token-command), which needs no token.
async function askForToken(reason) {
  token = null;
  document.getElementById("signin-why").textContent = `The app asks you to sign in: ${reason}.`;
  signIn.hidden = false;
  tokenInput.focus();
  try {
    const description = await callApi("/openapi.json");
    const scheme = description.components.securitySchemes.bearer;
    document.getElementById("signin-command").textContent = scheme["x-token-command"];
  } catch {
    // keep the generic command the page was served with
  }
}

signInForm.addEventListener("submit", (event) => {
  event.preventDefault(); // nothing is sent anywhere by the form itself (and the CSP allows no form action)
  const pasted = tokenInput.value.trim();
  tokenInput.value = ""; // the token lives in `token` only, not in the page
  if (!pasted) {
    return;
  }
  token = pasted.replace(/^Bearer\s+/i, "");
  signIn.hidden = true;
  statusOutput.textContent = "Signed in. Draw a digit.";
  showVersion();
  predict();
});

const canvas = document.getElementById("canvas");
const pen = canvas.getContext("2d");
const clearButton = document.getElementById("clear");
const labelOutput = document.getElementById("label");
const statusOutput = document.getElementById("status");
const rows = Array.from(document.querySelectorAll("#probabilities tbody tr"), (row) => ({
  percent: row.querySelector(".percent"),
  meter: row.querySelector("meter"),
}));

let stroke = null; // {pointerId, x, y} while a stroke is being drawn
let inked = false; // something is drawn
let asked = 0; // number of the latest prediction asked for: older answers, and answers after a clear, are dropped

function paper() {
  pen.fillStyle = PAPER;
  pen.fillRect(0, 0, canvas.width, canvas.height);
  pen.fillStyle = INK;
  pen.strokeStyle = INK;
  pen.lineWidth = PEN_WIDTH;
  pen.lineCap = "round";
  pen.lineJoin = "round";
  inked = false;
}

// A pointer event's position in canvas pixels, whatever size the canvas is shown at.
function canvasPoint(event) {
  const box = canvas.getBoundingClientRect();
  return {
    x: ((event.clientX - box.left) * canvas.width) / box.width,
    y: ((event.clientY - box.top) * canvas.height) / box.height,
  };
}

function dot(point) {
  pen.beginPath();
  pen.arc(point.x, point.y, PEN_WIDTH / 2, 0, 2 * Math.PI);
  pen.fill();
}

function line(from, to) {
  pen.beginPath();
  pen.moveTo(from.x, from.y);
  pen.lineTo(to.x, to.y);
  pen.stroke();
}

canvas.addEventListener("pointerdown", (event) => {
  if (stroke !== null || (event.pointerType === "mouse" && event.button !== 0)) {
    return; // one stroke at a time: a second finger does not draw
  }
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  const point = canvasPoint(event);
  stroke = { pointerId: event.pointerId, ...point };
  dot(point);
  inked = true;
});

canvas.addEventListener("pointermove", (event) => {
  if (stroke === null || event.pointerId !== stroke.pointerId) {
    return;
  }
  // A fast stroke delivers several positions per frame: draw through all of them, not just the last.
  const coalesced = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const each of coalesced.length ? coalesced : [event]) {
    const point = canvasPoint(each);
    line(stroke, point);
    stroke.x = point.x;
    stroke.y = point.y;
  }
});

function endStroke(event) {
  if (stroke === null || event.pointerId !== stroke.pointerId) {
    return;
  }
  stroke = null;
  predict();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

function drawingAsPng() {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the drawing could not be exported"))), "image/png");
  });
}

async function predict() {
  if (!inked) {
    return;
  }
  const number = ++asked;
  statusOutput.textContent = "Reading your digit…";
  try {
    const form = new FormData();
    form.append("image", await drawingAsPng(), "digit.png");
    const answer = await callApi("/v1/predict", { method: "POST", body: form });
    if (number === asked) {
      show(answer.predictions[0]);
    }
  } catch (error) {
    if (number === asked) {
      labelOutput.textContent = "?";
      statusOutput.textContent = `No answer: ${error.message}`;
    }
  }
}

function percent(probability) {
  return `${(probability * 100).toFixed(1)} %`;
}

function show(prediction) {
  const { label, probabilities } = prediction;
  labelOutput.textContent = String(label);
  statusOutput.textContent = `The model reads ${label}, with a probability of ${percent(probabilities[label])}.`;
  rows.forEach((row, digit) => {
    row.percent.textContent = percent(probabilities[digit]);
    row.meter.value = probabilities[digit];
  });
}

function clearAll() {
  asked++; // an answer still on its way is for the drawing just cleared
  stroke = null;
  paper();
  labelOutput.textContent = "?";
  statusOutput.textContent = "Cleared. Draw a digit.";
  for (const row of rows) {
    row.percent.textContent = "–";
    row.meter.value = 0;
  }
}
clearButton.addEventListener("click", clearAll);

async function showVersion() {
  const fields = ["model-name", "model-version", "app-version", "app-commit"].map((id) => document.getElementById(id));
  try {
    const version = await callApi("/version");
    const values = [version.model.name, version.model.version, version.app.version, version.app.commit];
    fields.forEach((field, i) => {
      field.textContent = values[i];
    });
  } catch (error) {
    if (error instanceof SignInNeeded) {
      return; // the sign-in section says what to do; the versions follow once signed in
    }
    fields.forEach((field) => {
      field.textContent = "unknown";
    });
    document.getElementById("about").append(` (/version: ${error.message})`);
  }
}

paper();
showVersion();
