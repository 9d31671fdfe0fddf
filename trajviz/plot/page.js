// trajviz's HTML page: draws a run's moving parts over the figure's static background.
// Every coordinate arrives in the figure's pixels (trajviz/plot/html.py computes them with
// matplotlib's own transforms); this script only draws them for the chosen step.
(() => {
  "use strict";
  const D = JSON.parse(document.getElementById("trajviz-data").textContent);

  function bytes(b64) {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  const f32 = (b64) => new Float32Array(bytes(b64).buffer);
  const i8 = (b64) => new Int8Array(bytes(b64).buffer);

  const T = D.steps, N = D.n, K = D.optimizers.length;
  const xy = f32(D.main.xy); // (N, T + 1, 2)
  const updates = f32(D.updates); // (K, T, 2): the recorded values, for the table
  const loss = f32(D.loss); // (K, T + 1)
  const bars = (D.bars || []).map((b) => ({ ...b, x: f32(b.x), push: i8(b.push) }));
  const lossXY = D.loss_panel ? f32(D.loss_panel.xy) : null; // (N, T + 1, 2)

  const canvas = document.getElementById("tv-canvas");
  canvas.width = D.width;
  canvas.height = D.height;
  const ctx = canvas.getContext("2d");
  const scrub = document.getElementById("tv-scrub");
  const playButton = document.getElementById("tv-play");
  const stepOut = document.getElementById("tv-step");
  const question = document.getElementById("tv-question");
  const rows = [];

  let step = 0;
  let timer = null;
  const background = new Image();

  const head = (i, t) => Math.min(t, D.last[i]);
  const gone = (i, t) => D.diverged_at[i] >= 0 && t >= D.diverged_at[i];

  function clipTo(box) {
    ctx.save();
    ctx.beginPath();
    ctx.rect(box[0], box[1], box[2], box[3]);
    ctx.clip();
  }

  function polyline(points, base, from, to) {
    ctx.beginPath();
    let pen = false;
    for (let k = from; k <= to; k++) {
      const x = points[base + 2 * k], y = points[base + 2 * k + 1];
      if (Number.isNaN(x) || Number.isNaN(y)) { pen = false; continue; }
      if (pen) ctx.lineTo(x, y); else { ctx.moveTo(x, y); pen = true; }
    }
    ctx.stroke();
  }

  // every trajectory's points (N, T + 1, 2) up to step t, each in its colour
  function paths(points, t, width, alpha, cap) {
    ctx.lineJoin = "round";
    ctx.lineCap = cap;
    ctx.lineWidth = width;
    ctx.globalAlpha = alpha;
    for (let i = 0; i < N; i++) {
      ctx.strokeStyle = D.colors[i];
      polyline(points, i * 2 * (T + 1), 0, head(i, t));
    }
    ctx.globalAlpha = 1;
  }

  function dot(x, y, r, fill, edge, width) {
    if (Number.isNaN(x) || Number.isNaN(y)) return;
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = fill;
    ctx.fill();
    ctx.lineWidth = width;
    ctx.strokeStyle = edge;
    ctx.stroke();
  }

  function cross(x, y, r, color) {
    if (Number.isNaN(x) || Number.isNaN(y)) return;
    ctx.lineCap = "round";
    for (const [w, c] of [[r * 0.75, D.theme.fg], [r * 0.45, color]]) {
      ctx.lineWidth = w;
      ctx.strokeStyle = c;
      ctx.beginPath();
      ctx.moveTo(x - r * 0.6, y - r * 0.6); ctx.lineTo(x + r * 0.6, y + r * 0.6);
      ctx.moveTo(x - r * 0.6, y + r * 0.6); ctx.lineTo(x + r * 0.6, y - r * 0.6);
      ctx.stroke();
    }
  }

  function drawMain(t) {
    const m = D.main, stride = 2 * (T + 1);
    clipTo(m.clip);
    for (let i = 0; i < N; i++) {
      dot(xy[i * stride], xy[i * stride + 1], m.start_radius, D.theme.bg, D.theme.fg, D.scale);
    }
    paths(xy, t, m.path_width, m.path_alpha, "round");
    ctx.lineCap = "butt";
    ctx.lineWidth = m.trail_width;
    for (let i = 0; i < N; i++) {
      const h = head(i, t);
      ctx.strokeStyle = D.colors[i];
      for (let s = 0; s < m.trail; s++) {
        ctx.globalAlpha = Math.pow(0.15 + (0.85 * s) / Math.max(m.trail - 1, 1), 1.5);
        polyline(xy, i * stride, Math.max(h - m.trail + s, 0), Math.max(h - m.trail + s + 1, 0));
      }
    }
    ctx.globalAlpha = 1;
    for (let i = 0; i < N; i++) {
      const h = head(i, t), x = xy[i * stride + 2 * h], y = xy[i * stride + 2 * h + 1];
      if (gone(i, t)) cross(x, y, m.mark_radius, D.colors[i]);
      else dot(x, y, m.head_radius, D.colors[i], D.theme.fg, 0.8 * D.scale);
    }
    ctx.restore();
  }

  function drawBars(t) {
    const s = Math.min(t, T - 1);
    for (const b of bars) {
      clipTo(b.clip);
      for (let k = 0; k < K; k++) {
        const end = b.x[k * T + s];
        const top = Math.min(b.top[k], b.bottom[k]), height = Math.abs(b.bottom[k] - b.top[k]);
        ctx.fillStyle = end >= b.zero ? D.theme.positive : D.theme.negative;
        ctx.fillRect(Math.min(end, b.zero), top, Math.abs(end - b.zero), height);
        const push = b.push[k * T + s];
        if (push !== 0) {
          const y = top + height / 2, r = b.marker;
          ctx.beginPath();
          ctx.moveTo(b.zero + push * r, y);
          ctx.lineTo(b.zero - push * r * 0.6, y - r * 0.8);
          ctx.lineTo(b.zero - push * r * 0.6, y + r * 0.8);
          ctx.closePath();
          ctx.fillStyle = D.theme.fg;
          ctx.fill();
          ctx.lineWidth = 0.6 * D.scale;
          ctx.strokeStyle = D.theme.bg;
          ctx.stroke();
        }
      }
      ctx.restore();
    }
  }

  function drawLoss(t) {
    if (!lossXY) return;
    const p = D.loss_panel;
    clipTo(p.clip);
    paths(lossXY, t, p.width, p.alpha, "butt");
    ctx.restore();
  }

  function drawTitle(t) {
    const title = D.title;
    ctx.fillStyle = title.color;
    ctx.font = `${title.weight} ${title.size}px "DejaVu Sans", Verdana, sans-serif`;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillText(title.texts[t], title.x, title.y);
  }

  const number = (v) => (Number.isNaN(v) ? "–" : v === 0 ? "0" : Math.abs(v) >= 1e-3 &&
    Math.abs(v) < 1e4 ? v.toPrecision(4) : v.toExponential(3));

  function fillTable(t) {
    const s = Math.min(t, T - 1);
    rows.forEach((cells, k) => {
      cells[0].textContent = number(updates[(k * T + s) * 2]);
      cells[1].textContent = number(updates[(k * T + s) * 2 + 1]);
      cells[2].textContent = number(loss[k * (T + 1) + t]);
    });
  }

  function draw(t) {
    ctx.drawImage(background, 0, 0);
    drawMain(t);
    drawBars(t);
    drawLoss(t);
    drawTitle(t);
    fillTable(t);
    scrub.value = String(t);
    stepOut.textContent = `step ${t} / ${T}`;
    document.body.dataset.step = String(t);
  }

  function setStep(t) {
    step = Math.max(0, Math.min(T, Math.round(t)));
    draw(step);
  }

  function pause() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    playButton.textContent = "Play";
    document.body.dataset.playing = "false";
  }

  function play() {
    question.hidden = true;
    if (timer !== null) return;
    const sequence = D.play.length ? D.play : [...Array(T + 1).keys()];
    let next = sequence.findIndex((s) => s > step);
    if (next < 0) { next = 0; setStep(sequence[0]); }
    playButton.textContent = "Pause";
    document.body.dataset.playing = "true";
    timer = setInterval(() => {
      if (next >= sequence.length) { pause(); return; }
      setStep(sequence[next++]);
    }, 1000 / D.fps);
  }

  function buildTable() {
    const body = document.querySelector("#tv-table tbody");
    D.optimizers.forEach((opt, k) => {
      const tr = document.createElement("tr");
      const name = document.createElement("td");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = D.colors[opt.row];
      name.append(swatch, opt.legend);
      tr.append(name);
      const cells = [0, 1, 2].map(() => tr.appendChild(document.createElement("td")));
      rows[k] = cells;
      body.append(tr);
    });
    const m = D.meta;
    document.getElementById("tv-about").textContent =
      `${m.surface}: the real torch.optim optimizers (torch ${m.torch}), drawn by trajviz ` +
      `${m.trajviz}. Bars: this step's update along x and y (symmetric log scale); ` +
      "triangles: the sign of the negative gradient.";
  }

  scrub.max = String(T);
  scrub.addEventListener("input", () => { pause(); question.hidden = true; setStep(+scrub.value); });
  playButton.addEventListener("click", () => (timer === null ? play() : pause()));
  document.addEventListener("keydown", (e) => {
    if (e.target === scrub) return;
    if (e.key === " ") { e.preventDefault(); playButton.click(); }
    if (e.key === "ArrowRight") { pause(); setStep(step + 1); }
    if (e.key === "ArrowLeft") { pause(); setStep(step - 1); }
  });
  if (D.question) {
    question.firstElementChild.textContent = D.question;
    question.hidden = false;
  }
  buildTable();
  window.trajviz = { setStep, play, pause, get step() { return step; },
                     get playing() { return timer !== null; } };
  background.onload = () => {
    setStep(0);
    document.body.dataset.ready = "true";
  };
  background.src = `data:image/png;base64,${D.background}`;
})();
