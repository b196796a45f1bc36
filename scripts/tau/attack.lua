-- Adversarial attacks on any callable from images (N, ...) in [0, 1] to logits (N, K):
-- FGSM, PGD (L-inf and L2, random starts, restarts, targeted or not) and APGD (Croce & Hein,
-- "Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free
-- attacks", ICML 2020), with the CE loss at an attack temperature, the CW margin and DLR.
--
-- The model runs in evaluation mode (each module's own flag restored afterwards, by
-- tau.nn.with_eval), input gradients come from tau.grad,
-- so the model's parameters and their .grad are never touched, and every step is one fused C
-- call (tau._attack) that steps, projects onto the threat model and clamps to the pixel box.
--
-- Each attack returns x_adv and an info table:
--   success      int32 (N), 1 where the attack fooled the model (reached the target if targeted)
--   loss         float (N), the attack objective at x_adv (higher is stronger)
--   predicted    int32 (N), the model's labels on x_adv
--   clean_correct int32 (N), 1 where the clean image was classified correctly
--   target       int32 (N) target labels, when targeted
--   success_rate, accuracy (on x_adv), clean_accuracy, n
--   zero_grad_fraction: share of (sample, step) gradients that were exactly zero. A large value
--     means the loss saturates (e.g. CE at a very low temperature): robustness measured by such
--     an attack is gradient masking until a margin loss (cw, dlr) agrees.
--
-- Common options: eps, norm ("linf" | "l2"), loss ("ce" | "cw" | "dlr"), tau (CE's attack
-- temperature), targeted / target (labels, "random" or "least_likely"; a target implies
-- targeted), bounds = {lo, hi} (the pixel box, {0, 1}), seed (a private generator stream: the
-- global one is left where it was), batch (attack in chunks of this many images), check (assert
-- the invariants after every step: the ball, the box, parameters and their .grad bit-identical,
-- evaluation mode) and on_step(step, x_adv, {restart, loss (before the step), step_size, batch,
-- offset}).
local tau = require "tau"
local F = tau.F
local K = tau._attack
local util = require "tau.util"
local with_eval = require("tau.nn.module").with_eval
local fail, shape_str, is_callable = util.fail, util.shape_str, util.is_callable

local M = {}

-- ---------------------------------------------------------------- options

local COMMON = {
  eps = {"number", min = 0, finite = true}, tau = {"number", above = 0, finite = true}, loss = "string",
  norm = "string", targeted = "boolean", target = "any", bounds = "table", check = {"boolean", default = false},
  on_step = "function", seed = "integer", batch = {"integer", min = 1}, name = "string",
}
local KEYS = {
  fgsm = {},
  pgd = {alpha = {"number", min = 0, finite = true}, steps = {"integer", min = 0, default = 20},
         random_start = {"boolean", default = true}, restarts = {"integer", min = 1, default = 1}},
  apgd = {steps = {"integer", min = 1, default = 100}, rho = {"number", min = 0, max = 1, default = 0.75},
          restarts = {"integer", min = 1, default = 1}, random_start = {"boolean", default = true},
          momentum = {"number", min = 0, max = 1, default = 0.75}},
}
local CHECK = {}
for kind, extra in pairs(KEYS) do
  local spec = {}
  for k, v in pairs(COMMON) do spec[k] = v end
  for k, v in pairs(extra) do spec[k] = v end
  CHECK[kind] = tau.options.spec("tau.attack." .. kind, spec)
end

local DEFAULT_EPS = {linf = 8 / 255, l2 = 0.5}

local function norm_of(fn, v)
  if v == nil then return "linf" end
  local l = v:lower()
  if l == "linf" or l == "inf" or l == "l_inf" then return "linf" end
  if l == "l2" or l == "l_2" then return "l2" end
  fail(fn, "unknown norm '%s' (expected 'linf' or 'l2')", v)
end

local function loss_of(fn, v)
  if v ~= "ce" and v ~= "cw" and v ~= "dlr" then
    fail(fn, "unknown loss '%s' (expected 'ce', 'cw' or 'dlr')", tostring(v))
  end
  return v
end

-- The attack's settings from opts, checked against the attack's spec; opts.name (set by
-- callers such as tau.attack.transfer) is the function named in messages.
local function parse(kind, fn, opts)
  if type(opts) == "table" and type(opts.name) == "string" then fn = opts.name end
  local o = CHECK[kind](opts, fn)
  o.name, o.kind = fn, kind
  o.norm = norm_of(fn, o.norm)
  o.eps = o.eps or DEFAULT_EPS[o.norm]
  o.tau = o.tau or 1
  o.loss = loss_of(fn, o.loss or "ce")
  o.lo, o.hi = 0, 1
  if o.bounds ~= nil then
    local b = o.bounds
    if type(b[1]) ~= "number" or type(b[2]) ~= "number" or not (b[1] < b[2]) then
      fail(fn, "bounds must be a pair {lo, hi} with lo < hi")
    end
    o.lo, o.hi = b[1], b[2]
  end
  if o.targeted == nil then o.targeted = o.target ~= nil
  elseif not o.targeted and o.target ~= nil then fail(fn, "a target was given but targeted = false") end
  if o.targeted and o.target == nil then
    fail(fn, "a targeted attack needs a target (labels, 'random' or 'least_likely')")
  end
  if kind == "pgd" then o.alpha = o.alpha or (o.norm == "linf" and 2 / 255 or o.eps / 4) end
  return o
end

-- ---------------------------------------------------------------- inputs

local function images_of(fn, x, o)
  if not tau.is_tensor(x) then fail(fn, "images must be a tensor (N, ...), got %s", type(x)) end
  if x:dtype() ~= "float32" then fail(fn, "images must be float32, got %s", x:dtype()) end
  if x:dim() < 1 then fail(fn, "images must have a batch dimension (N, ...), got a 0-dimensional tensor") end
  K.check_images(x, {lo = o.lo, hi = o.hi, name = fn})
  return x:detach():contiguous()
end

-- Labels as an int32 (N) tensor; tables and integral float tensors are accepted.
local function labels_of(fn, y, n, what)
  if type(y) == "table" then
    local ok, t = pcall(tau.tensor, y, "int32")
    if not ok then fail(fn, "%s must be a tensor or a list of integer labels (%s)", what, t) end
    y = t
  end
  if not tau.is_tensor(y) then fail(fn, "%s must be an int32 tensor of %d labels, got %s", what, n, type(y)) end
  if y:dtype() ~= "int32" then
    local yi = y:int()
    if not yi:float():equal(y:contiguous()) then fail(fn, "%s must hold integers", what) end
    y = yi
  end
  if y:dim() ~= 1 or y:size(1) ~= n then
    fail(fn, "%s of size %s do not match %d images (expected [%d])", what, shape_str(y), n, n)
  end
  return y:contiguous()
end

local function check_range(fn, y, k, what)
  local n = y:size(1)
  if n == 0 then return end
  if y:min():item() >= 1 and y:max():item() <= k then return end
  local v = y:totable()
  for i = 1, n do
    if v[i] < 1 or v[i] > k then fail(fn, "%s %d out of range 1..%d at sample %d", what, v[i], k, i) end
  end
end

local function logits_of(fn, model, x)
  local z = model(x)
  if not tau.is_tensor(z) then fail(fn, "the model must return a tensor of logits (N, K), got %s", type(z)) end
  if z:dim() ~= 2 or z:size(1) ~= x:size(1) then
    fail(fn, "the model must return logits of size (N, K) with N = %d, got %s", x:size(1), shape_str(z))
  end
  return z
end

local function forward(fn, model, x)
  return tau.no_grad(function() return logits_of(fn, model, x) end)
end

-- ---------------------------------------------------------------- losses

-- The per-sample objective the attack maximises. CE is taken at the attack temperature o.tau
-- (cross-entropy of z / tau); a targeted attack maximises minus the target's CE. The margin
-- losses are scale-free in the step direction, so the temperature does not enter them.
local function objective(z, y, t, o)
  if o.loss == "ce" then
    if t then return -F.cross_entropy(z, t, {tau = o.tau, reduction = "none"}) end
    return F.cross_entropy(z, y, {tau = o.tau, reduction = "none"})
  end
  return K.margin_loss(z, y, {kind = o.loss, target = t, name = o.name})
end

local function success_of(z, y, t)
  local pred = z:argmax(2)
  if t then return pred:eq(t), pred end
  return pred:ne(y), pred
end

-- Gradient of the summed objective w.r.t. the images, at x (a fresh leaf each call).
local function input_grad(fn, model, x, y, t, o)
  local xi = x:detach():requires_grad()
  local z = logits_of(fn, model, xi)
  local f = objective(z, y, t, o)
  local g
  if f.needs_grad then g = tau.grad(f:sum(), {xi})[1]
  else g = tau.zeros(xi:size()) end -- a model that ignores its input
  return g, f:detach(), z:detach()
end

-- ---------------------------------------------------------------- model state

-- Evaluation mode for every module (each one's own flag restored afterwards), grad mode on, and
-- the seeded generator; all restored afterwards, also when the attack fails.
local function guarded(model, o, body, ...)
  local grad = tau.set_grad_enabled(true)
  local rng
  if o.seed then
    rng = tau.get_rng_state()
    tau.manual_seed(o.seed)
  end
  local r = table.pack(pcall(with_eval, model, body, ...))
  tau.set_grad_enabled(grad)
  if rng then tau.set_rng_state(rng) end
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

-- ---------------------------------------------------------------- invariants (check = true)

local function params_of(model)
  if type(model) == "table" and type(model.parameters) == "function" then return model:parameters() end
  return {}
end

local function snapshot(model)
  local s = {}
  for i, p in ipairs(params_of(model)) do
    local g = p.grad
    s[i] = {p, p:detach():clone(), g and g:clone() or false}
  end
  return s
end

local function check_step(fn, o, model, snap, x0, xa, step)
  local tol = 1e-6 + (o.norm == "l2" and 1e-6 * o.eps or 0)
  local nrm = K.perturbation_norm(xa, x0, {norm = o.norm, name = fn}):max():item()
  if not (nrm <= o.eps + tol) then
    fail(fn, "invariant violated after step %d: perturbation norm %.9g exceeds eps %.9g", step, nrm, o.eps)
  end
  local lo, hi = xa:min():item(), xa:max():item()
  if not (lo >= o.lo and hi <= o.hi) then
    fail(fn, "invariant violated after step %d: pixels span [%g, %g], outside [%g, %g]", step, lo, hi, o.lo, o.hi)
  end
  for i, e in ipairs(snap) do
    local p, v, g = e[1], e[2], e[3]
    if not p:equal(v) then fail(fn, "invariant violated after step %d: parameter %d changed", step, i) end
    local pg = p.grad
    if (g == false) ~= (pg == nil) or (pg and not pg:equal(g)) then
      fail(fn, "invariant violated after step %d: the .grad of parameter %d changed", step, i)
    end
  end
  if type(model) == "table" and model.training then
    fail(fn, "invariant violated after step %d: the model left evaluation mode", step)
  end
end

-- ---------------------------------------------------------------- shared pieces

local function per_sample_shape(x)
  local s = {x:size(1)}
  for i = 2, x:dim() do s[i] = 1 end
  return s
end

local function kernel_opts(o, alpha)
  return {eps = o.eps, alpha = alpha, norm = o.norm, lo = o.lo, hi = o.hi, name = o.name,
          momentum = o.momentum}
end

local function start_point(o, x0)
  if o.random_start and o.eps > 0 then return K.random_start(x0, kernel_opts(o)) end
  return x0:clone()
end

-- Keeps per sample the candidate that fooled the model, else the one with the higher loss.
local function merge(best, cand, bshape)
  if not best then return cand end
  local take = cand.success:gt(best.success) + (cand.success + best.success):eq(0) * cand.loss:gt(best.loss)
  local tb = take:view(bshape)
  return {x = tau.where(tb, cand.x, best.x), loss = tau.where(take, cand.loss, best.loss),
          success = tau.maximum(cand.success, best.success),
          pred = cand.pred and best.pred and tau.where(take, cand.pred, best.pred):int() or nil}
end

local function resolve_targets(fn, o, y, t, z0, k)
  if not o.targeted then return nil end
  local n = y:size(1)
  if t == "random" then
    if k < 2 then fail(fn, "a random target needs at least 2 classes") end
    local r = tau.randint(1, k - 1, {n})
    return r + r:ge(y) -- uniform over the classes other than y
  elseif t == "least_likely" then
    return z0:argmin(2)
  end
  check_range(fn, t, k, "target label")
  return t
end

-- ---------------------------------------------------------------- attacks on one batch

local function pgd_batch(fn, model, x0, y, t, o, ctx)
  local n = x0:size(1)
  local bshape = per_sample_shape(x0)
  local kop = kernel_opts(o, o.alpha)
  local best
  for r = 1, o.restarts do
    local xa = start_point(o, x0)
    for step = 1, o.steps do
      local g, f = input_grad(fn, model, xa, y, t, o)
      local nz
      xa, nz = K.pgd_step(xa, g, x0, kop)
      ctx.zero, ctx.grads = ctx.zero + nz, ctx.grads + n
      if o.check then check_step(fn, o, model, ctx.snap, x0, xa, step) end
      if o.on_step then o.on_step(step, xa, {restart = r, loss = f, batch = ctx.batch, offset = ctx.offset}) end
    end
    local z = forward(fn, model, xa)
    local f = tau.no_grad(function() return objective(z, y, t, o) end)
    local s, pred = success_of(z, y, t)
    best = merge(best, {x = xa, loss = f, success = s, pred = pred}, bshape)
    if r < o.restarts and best.success:sum():item() == n then break end
  end
  return best
end

local function fgsm_batch(fn, model, x0, y, t, o, ctx)
  local n = x0:size(1)
  local g = input_grad(fn, model, x0, y, t, o)
  local xa, nz = K.pgd_step(x0, g, x0, kernel_opts(o, o.eps))
  ctx.zero, ctx.grads = ctx.zero + nz, ctx.grads + n
  if o.check then check_step(fn, o, model, ctx.snap, x0, xa, 1) end
  if o.on_step then o.on_step(1, xa, {restart = 1, batch = ctx.batch, offset = ctx.offset}) end
  local z = forward(fn, model, xa)
  local f = tau.no_grad(function() return objective(z, y, t, o) end)
  local s, pred = success_of(z, y, t)
  return {x = xa, loss = f, success = s, pred = pred}
end

-- Iterations at which APGD reconsiders its step size: ceil(p_j * steps) with p_0 = 0,
-- p_1 = 0.22 and p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06).
local function checkpoints(steps)
  local p = {0, 0.22}
  while true do
    local nxt = p[#p] + math.max(p[#p] - p[#p - 1] - 0.03, 0.06)
    if nxt > 1 then break end
    p[#p + 1] = nxt
  end
  local set = {}
  for j = 2, #p do
    local w = math.ceil(p[j] * steps - 1e-9)
    if w >= 1 and w < steps then set[w] = true end
  end
  return set
end
M._checkpoints = checkpoints

-- APGD: each sample carries its own step size, starting at 2 eps. The first update is a plain
-- projected step; later ones add momentum. At each checkpoint a sample halves its step size and
-- resumes from the best point it has seen when the loss rose in fewer than rho of the steps since
-- the last checkpoint, or when its best loss did not improve since then although the step size
-- was left unchanged there. Returns per sample the first point that fooled the model, or else
-- the point of highest loss. `steps` counts gradient evaluations, as PGD's does.
local function apgd_batch(fn, model, x0, y, t, o, ctx)
  local n = x0:size(1)
  local bshape = per_sample_shape(x0)
  local ck = checkpoints(o.steps)
  local best
  for r = 1, o.restarts do
    local x = start_point(o, x0)
    local g, f, z = input_grad(fn, model, x, y, t, o)
    local x_prev = x
    local x_max, g_max, f_max = x, g, f
    local found = success_of(z, y, t)
    local x_adv, f_adv = x, f
    local eta = tau.full({n}, 2 * o.eps)
    local f_prev = f
    local inc = tau.zeros(n)
    local reduced = tau.zeros({n}, "int32")
    local f_max_ck = f_max
    local last_ck = 0
    local kop = kernel_opts(o)
    for i = 1, o.steps - 1 do
      kop.alpha = eta
      local x_new, nz
      if i == 1 then x_new, nz = K.pgd_step(x, g, x0, kop)
      else x_new, nz = K.apgd_step(x, x_prev, g, x0, kop) end
      ctx.zero, ctx.grads = ctx.zero + nz, ctx.grads + n
      x_prev, x = x, x_new
      g, f, z = input_grad(fn, model, x, y, t, o)
      inc = inc + f:gt(f_prev)
      f_prev = f
      local better = f:gt(f_max)
      local bb = better:view(bshape)
      x_max, g_max, f_max = tau.where(bb, x, x_max), tau.where(bb, g, g_max), tau.where(better, f, f_max)
      local s = success_of(z, y, t)
      local new = s:gt(found)
      x_adv, f_adv = tau.where(new:view(bshape), x, x_adv), tau.where(new, f, f_adv)
      found = tau.maximum(found, s)
      if ck[i] then
        local slow = inc:lt(o.rho * (i - last_ck))
        local stalled = reduced:eq(0) * f_max:le(f_max_ck)
        local halve = (slow + stalled):gt(0)
        local hb = halve:view(bshape)
        eta = tau.where(halve, eta * 0.5, eta)
        x, g, x_prev = tau.where(hb, x_max, x), tau.where(hb, g_max, g), tau.where(hb, x_max, x_prev)
        f_prev = tau.where(halve, f_max, f_prev)
        reduced, f_max_ck, last_ck = halve, f_max, i
        inc = tau.zeros(n)
      end
      if o.check then check_step(fn, o, model, ctx.snap, x0, x, i) end
      if o.on_step then
        o.on_step(i, x, {restart = r, loss = f, step_size = eta, batch = ctx.batch, offset = ctx.offset})
      end
    end
    local fb = found:view(bshape)
    best = merge(best, {x = tau.where(fb, x_adv, x_max), loss = tau.where(found, f_adv, f_max), success = found},
                 bshape)
    if r < o.restarts and best.success:sum():item() == n then break end
  end
  return best
end

local BATCH = {pgd = pgd_batch, fgsm = fgsm_batch, apgd = apgd_batch}

-- ---------------------------------------------------------------- driver

local function run(kind, fn, model, x, y, opts)
  local o = parse(kind, fn, opts)
  fn = o.name
  if not is_callable(model) then fail(fn, "model must be callable (a function or a module), got %s", type(model)) end
  local x0 = images_of(fn, x, o)
  local n = x0:size(1)
  y = labels_of(fn, y, n, "labels")
  local tgt = o.target
  if o.targeted and type(tgt) == "string" then
    if tgt ~= "random" and tgt ~= "least_likely" then
      fail(fn, "unknown target '%s' (expected a tensor of labels, 'random' or 'least_likely')", tgt)
    end
  elseif o.targeted then
    tgt = labels_of(fn, tgt, n, "target labels")
  end
  return guarded(model, o, function()
    local ctx = {zero = 0, grads = 0, snap = o.check and snapshot(model) or nil}
    local parts = {x = {}, loss = {}, success = {}, pred = {}, clean = {}, target = {}}
    local b = o.batch or math.max(n, 1)
    local index = 0
    for s = 1, math.max(n, 1), b do
      local len = math.min(b, n - s + 1)
      if len <= 0 then break end
      index = index + 1
      ctx.batch, ctx.offset = index, s - 1
      local xb, yb = x0:narrow(1, s, len), y:narrow(1, s, len)
      local z0 = forward(fn, model, xb)
      local k = z0:size(2)
      check_range(fn, yb, k, "label")
      local tb = resolve_targets(fn, o, yb, type(tgt) == "string" and tgt or (tgt and tgt:narrow(1, s, len)), z0, k)
      local res = BATCH[kind](fn, model, xb, yb, tb, o, ctx)
      local pred = res.pred
      if not pred then pred = forward(fn, model, res.x):argmax(2) end
      local p = parts
      p.x[index], p.loss[index], p.success[index], p.pred[index] = res.x, res.loss, res.success, pred
      p.clean[index] = z0:argmax(2):eq(yb)
      p.target[index] = tb
    end
    local function join(list) return #list == 1 and list[1] or tau.cat(list, 1) end
    if n == 0 then
      local e = tau.zeros({0}, "int32")
      return x0:clone(), {success = e, loss = tau.zeros(0), predicted = e, clean_correct = e, n = 0,
                          success_rate = 0, accuracy = 0, clean_accuracy = 0, zero_grad_fraction = 0}
    end
    local info = {success = join(parts.success), loss = join(parts.loss), predicted = join(parts.pred),
                  clean_correct = join(parts.clean), n = n}
    if o.targeted then info.target = join(parts.target) end
    info.success_rate = info.success:sum():item() / n
    info.accuracy = info.predicted:eq(y):sum():item() / n
    info.clean_accuracy = info.clean_correct:sum():item() / n
    info.zero_grad_fraction = ctx.grads > 0 and ctx.zero / ctx.grads or 0
    return join(parts.x), info
  end)
end

--- tau.attack.fgsm(model, x, y, {eps = 8/255, norm = "linf", loss = "ce", tau = 1, targeted, target})
function M.fgsm(model, x, y, opts) return run("fgsm", "tau.attack.fgsm", model, x, y, opts) end

--- tau.attack.pgd(model, x, y, {eps = 8/255, alpha = 2/255, steps = 20, random_start = true,
---   restarts = 1, norm = "linf" | "l2", loss = "ce" | "cw" | "dlr", tau = 1, targeted = false,
---   target = nil | labels | "random" | "least_likely", seed, batch, bounds = {0, 1}, check, on_step})
function M.pgd(model, x, y, opts) return run("pgd", "tau.attack.pgd", model, x, y, opts) end

--- tau.attack.apgd(model, x, y, {eps, steps = 100, loss = "ce" | "dlr" | "cw", norm = "linf",
---   rho = 0.75, momentum = 0.75, restarts = 1, random_start = true, seed, tau, targeted, target, ...})
function M.apgd(model, x, y, opts) return run("apgd", "tau.attack.apgd", model, x, y, opts) end

--- tau.attack.accuracy(model, x, y, {batch}) -> fraction correct, count correct
local accuracy_opts = tau.options.spec("tau.attack.accuracy", {batch = {"integer", min = 1}, name = "string"})
function M.accuracy(model, x, y, opts)
  local fn = type(opts) == "table" and type(opts.name) == "string" and opts.name or "tau.attack.accuracy"
  local o = accuracy_opts(opts, fn)
  if not is_callable(model) then fail(fn, "model must be callable (a function or a module), got %s", type(model)) end
  if not tau.is_tensor(x) or x:dim() < 1 then fail(fn, "images must be a tensor (N, ...)") end
  local n = x:size(1)
  y = labels_of(fn, y, n, "labels")
  local b = o.batch or math.max(n, 1)
  local correct = guarded(model, {}, function()
    local c = 0
    for s = 1, n, b do
      local len = math.min(b, n - s + 1)
      local z = forward(fn, model, x:narrow(1, s, len))
      check_range(fn, y:narrow(1, s, len), z:size(2), "label")
      c = c + z:argmax(2):eq(y:narrow(1, s, len)):sum():item()
    end
    return c
  end)
  return n > 0 and correct / n or 0, correct
end

--- tau.attack.transfer(source, target, x, y, opts) -> x_adv, target accuracy on x_adv, info
--- Crafts on the source model (opts.attack = "pgd" | "fgsm" | "apgd", the rest as for it) and
--- evaluates the target; info adds source_accuracy and target_clean_accuracy.
-- its options: `attack` and those of that attack (tau.options.specs lists pgd's, the default)
local TRANSFER = {}
for _, kind in ipairs{"fgsm", "apgd", "pgd"} do
  local spec = {attack = "string"}
  for k, v in pairs(COMMON) do spec[k] = v end
  for k, v in pairs(KEYS[kind]) do spec[k] = v end
  TRANSFER[kind] = tau.options.spec("tau.attack.transfer", spec)
end

function M.transfer(source, target, x, y, opts)
  local fn = "tau.attack.transfer"
  if opts ~= nil and type(opts) ~= "table" then fail(fn, "options must be a table, got %s", type(opts)) end
  local kind = opts and opts.attack or "pgd"
  if not BATCH[kind] then fail(fn, "unknown attack '%s' (expected 'pgd', 'fgsm' or 'apgd')", tostring(kind)) end
  TRANSFER[kind](opts)
  local a = {}
  for k, v in pairs(opts or {}) do a[k] = v end
  a.attack = nil
  a.name = a.name or fn
  local xa, info = run(kind, "tau.attack." .. kind, source, x, y, a)
  local acc = M.accuracy(target, xa, y, {batch = a.batch, name = fn})
  info.source_accuracy = info.accuracy
  info.target_accuracy = acc
  info.target_clean_accuracy = M.accuracy(target, x, y, {batch = a.batch, name = fn})
  return xa, acc, info
end

--- tau.attack.loss(logits, y, {loss = "ce", tau = 1, target}) -> (N) per-sample attack objective
local objective_spec = {loss = {"string", default = "ce"}, tau = {"number", above = 0, finite = true, default = 1},
                        target = "any"}
local loss_opts = tau.options.spec("tau.attack.loss", objective_spec)
function M.loss(logits, y, opts)
  local fn = "tau.attack.loss"
  local o = loss_opts(opts)
  o.name = fn
  loss_of(fn, o.loss)
  if not tau.is_tensor(logits) or logits:dim() ~= 2 then fail(fn, "logits must be a tensor (N, K)") end
  local n = logits:size(1)
  y = labels_of(fn, y, n, "labels")
  local t = o.target and labels_of(fn, o.target, n, "target labels") or nil
  return objective(logits, y, t, o)
end

--- tau.attack.input_grad(model, x, y, {loss, tau, target}) -> gradient of the summed objective
--- w.r.t. x, the per-sample objective, the logits (model in evaluation mode, parameters untouched)
local input_grad_opts = tau.options.spec("tau.attack.input_grad", objective_spec)
function M.input_grad(model, x, y, opts)
  local fn = "tau.attack.input_grad"
  local o = input_grad_opts(opts)
  o.name = fn
  loss_of(fn, o.loss)
  if not is_callable(model) then fail(fn, "model must be callable (a function or a module), got %s", type(model)) end
  if not tau.is_tensor(x) or x:dim() < 1 then fail(fn, "images must be a tensor (N, ...)") end
  local n = x:size(1)
  y = labels_of(fn, y, n, "labels")
  local t = o.target and labels_of(fn, o.target, n, "target labels") or nil
  return guarded(model, o, function() return input_grad(fn, model, x:detach(), y, t, o) end)
end

return M
