// The upload page: send the chosen image to /v1/analyze, draw the faces over it, show the JSON.
"use strict";

const $ = (id) => document.getElementById(id);
let photoUrl = null;
let lastFile = null;  // analysed again when the API key changes

async function start() {
  try {
    const health = await (await fetch("/healthz")).json();
    $("key-row").hidden = !health.api_key_required;
  } catch (error) {
    say(`The server does not answer: ${error}`, true);
  }
  $("file").addEventListener("change", () => {
    analyze($("file").files[0]);
    $("file").value = "";  // so that choosing the same file again analyses it again
  });
  $("api-key").addEventListener("change", () => analyze(lastFile));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    analyze(event.dataTransfer.files[0]);
  });
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function analyze(file) {
  if (!file) return;
  lastFile = file;
  say(`Analysing ${file.name}…`);
  const headers = { "Content-Type": file.type || "application/octet-stream" };
  const key = $("api-key").value;
  if (key) headers["X-API-Key"] = key;
  let response, answer;
  try {
    response = await fetch("/v1/analyze", { method: "POST", headers, body: file });
    answer = await response.json();
  } catch (error) {
    say(`The request failed: ${error}`, true);
    return;
  }
  $("json").textContent = JSON.stringify(answer, null, 2);
  $("json-box").hidden = false;
  if (!response.ok) {
    $("result").hidden = true;
    say(`Refused (${response.status}): ${answer.detail}`, true);
    return;
  }
  await show(file, answer);
  const count = answer.faces.length;
  say(`${count} face${count === 1 ? "" : "s"} in ${answer.timings.total_ms.toFixed(0)} ms.`);
}

async function show(file, answer) {
  if (photoUrl) URL.revokeObjectURL(photoUrl);
  photoUrl = URL.createObjectURL(file);
  const photo = $("photo");
  photo.src = photoUrl;
  await photo.decode().catch(() => {});  // a format the browser cannot show still gets its boxes
  const stage = $("stage");
  stage.querySelectorAll(".box").forEach((box) => box.remove());
  for (const face of answer.faces) {
    const [x, y, w, h] = face.box;
    const box = document.createElement("div");
    box.className = `box ${face.gender}`;
    Object.assign(box.style, {
      left: `${(100 * x) / answer.width}%`,
      top: `${(100 * y) / answer.height}%`,
      width: `${(100 * w) / answer.width}%`,
      height: `${(100 * h) / answer.height}%`,
    });
    const label = document.createElement("span");
    label.className = "label";
    const confidence = face.gender === "female" ? face.p_female : 1 - face.p_female;
    label.textContent = `${face.gender} ${Math.round(100 * confidence)}%` + ageText(face);
    box.append(label);
    stage.append(box);
  }
  $("summary").textContent = answer.faces.map(describe).join("; ") || "no face found";
  $("result").hidden = false;
}

// A face's age as the page shows it (nothing for a model that gives no age): the answer's own
// value, one decimal, so that it agrees with its group and with the JSON below.
function ageText(face) {
  return face.age === null || face.age === undefined ? "" : `, ${face.age.toFixed(1)} years`;
}

function describe(face) {
  const group = face.age_group ? ` (${face.age_group})` : "";
  return `${face.gender}${ageText(face)}${group}`;
}

start();
