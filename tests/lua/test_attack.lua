-- tau.attack and tau._attack: closed-form checks on linear models (FGSM is exactly the optimal
-- L-inf perturbation, PGD reaches it, targeted steps move toward the target), the attack
-- temperature's effect on the step direction, gradient masking at low temperature, invariants
-- after every step, attacks on a trained model (APGD at least as strong as PGD), and errors.
local T = ...
local A, K, F = tau.attack, tau._attack, tau.F

---------------------------------------------------------------------------- helpers

local function flat(x) return x:reshape(x:size(1), x:numel() // x:size(1)) end

-- logits = flatten(x) W + b, with W (D, C)
local function linear(W, b)
  return function(x) return flat(x):matmul(W) + b end
end

-- A module-like table: parameters that require grad (one with a .grad already), a training
-- flag, evaluate/train, and a forward that refuses to run in training mode.
local function module_model(W, b)
  local m = {training = true, W = W:clone():requires_grad(), b = b:clone():requires_grad(), calls = 0}
  m.W.grad = tau.ones(W:size())
  function m:parameters() return {self.W, self.b} end
  function m:evaluate() self.training = false; return self end
  function m:train(mode) self.training = mode ~= false; return self end
  return setmetatable(m, {__call = function(self, x)
    if self.training then error("forward called in training mode") end
    self.calls = self.calls + 1
    return flat(x):matmul(self.W) + self.b
  end})
end

local function labels(t) return tau.tensor(t, "int32") end

local function max_abs(t) return t:abs():max():item() end

local function per_sample_l2(d) return (flat(d) ^ 2):sum(2):sqrt() end

local function cosine(a, b)
  a, b = a:reshape(a:numel()), b:reshape(b:numel())
  return (a * b):sum():item() / math.sqrt((a * a):sum():item() * (b * b):sum():item())
end

-- column c of W as a (D) vector
local function col(W, c) return W:narrow(2, c, 1):reshape(W:size(1)) end

-- images in [lo, hi] away from the box so the ball alone binds
local function images(n, d, lo, hi)
  return tau.rand(n, d) * (hi - lo) + lo
end

-- 2-class closed form: the L-inf optimal untargeted perturbation of sample i is
-- -eps sign(w_y - w_other)
local function closed_form_2class(W, x, y, eps)
  local rows = {}
  local yt = y:totable()
  local dw = col(W, 1) - col(W, 2)
  for i = 1, x:size(1) do
    local s = (yt[i] == 1 and dw or -dw):sign()
    rows[i] = x[i] - s * eps
  end
  return tau.stack(rows, 1)
end

---------------------------------------------------------------------------- closed forms

T.test("fgsm equals the closed-form optimal L-inf perturbation of a 2-class linear model", function()
  tau.manual_seed(1)
  local D, eps = 20, 0.1
  local W, b = tau.randn(D, 2), tau.randn(2) * 0.1
  for _, n in ipairs({1, 6}) do
    local x = images(n, D, 0.3, 0.7)
    local y = tau.randint(1, 2, {n})
    local xa, info = A.fgsm(linear(W, b), x, y, {eps = eps})
    T.ok(xa:equal(closed_form_2class(W, x, y, eps)), "fgsm is -eps sign(w_y - w_other), batch " .. n)
    T.eq(info.n, n)
    T.eq(info.zero_grad_fraction, 0)
    -- the CW margin has the same optimal direction
    local xc = A.fgsm(linear(W, b), x, y, {eps = eps, loss = "cw"})
    T.ok(xc:equal(xa), "cw fgsm agrees")
  end
end)

T.test("pgd reaches the closed-form vertex from a random start (ce and cw, batch 1 and 5)", function()
  tau.manual_seed(2)
  local D, eps = 16, 8 / 255
  local W, b = tau.randn(D, 2), tau.zeros(2)
  for _, n in ipairs({1, 5}) do
    local x = images(n, D, 0.2, 0.8)
    local y = tau.randint(1, 2, {n})
    local want = closed_form_2class(W, x, y, eps)
    for _, loss in ipairs({"ce", "cw"}) do
      local xa = A.pgd(linear(W, b), x, y, {eps = eps, alpha = 2 / 255, steps = 10, loss = loss, seed = 7})
      T.ok(xa:equal(want), "pgd-" .. loss .. " ends at the optimal vertex, batch " .. n)
    end
  end
end)

T.test("l2 fgsm and pgd reach the closed-form L2 optimum of a 2-class linear model", function()
  tau.manual_seed(21)
  local D, eps = 16, 0.3
  local W = tau.randn(D, 2)
  local model = linear(W, tau.zeros(2))
  local x = images(3, D, 0.4, 0.6)
  local y = labels{1, 2, 1}
  -- optimum: -eps (w_y - w_other) / ||w_y - w_other||
  local dw = col(W, 1) - col(W, 2)
  local u = dw / math.sqrt((dw * dw):sum():item())
  local rows = {}
  for i, yi in ipairs(y:totable()) do rows[i] = x[i] - (yi == 1 and u or -u) * eps end
  local want = tau.stack(rows, 1)
  local xf = A.fgsm(model, x, y, {eps = eps, norm = "l2"})
  T.close(xf, want, 1e-6)
  local xp = A.pgd(model, x, y, {eps = eps, alpha = 0.07, steps = 6, norm = "l2", random_start = false})
  T.close(xp, want, 1e-6)
  T.close(per_sample_l2(xp - x), {eps, eps, eps}, 1e-5)
end)

T.test("targeted attacks step toward the target class", function()
  tau.manual_seed(3)
  local D, C, eps = 24, 3, 0.05
  local W, b = tau.randn(D, C), tau.zeros(C)
  local model = linear(W, b)
  local x = images(4, D, 0.3, 0.7)
  local y = labels{1, 2, 3, 1}
  local t = labels{2, 3, 1, 3}
  -- one targeted FGSM step is x + eps sign(w_t - sum_i p_i w_i), p the clean softmax
  local p = F.softmax(model(x), {dim = 2})
  local xa = A.fgsm(model, x, y, {eps = eps, target = t})
  local rows = {}
  for i = 1, 4 do
    local ti = t[i]
    local dir = col(W, ti) - W:matmul(p[i])
    rows[i] = x[i] + dir:sign() * eps
  end
  T.ok(xa:equal(tau.stack(rows, 1)), "targeted fgsm direction")
  -- the target's margin grows, and the untargeted step goes elsewhere
  local function margin(z, c, r) return z:gather(2, c:view(4, 1)) - z:gather(2, r:view(4, 1)) end
  local xp = A.pgd(model, x, y, {eps = eps, steps = 10, alpha = 0.01, target = t, random_start = false})
  local before, after = margin(model(x), t, y), margin(model(xp), t, y)
  T.ok((after - before):min():item() > 0, "z_t - z_y increases for every sample")
  local xu = A.fgsm(model, x, y, {eps = eps})
  T.ok(not xu:equal(xa), "targeted and untargeted steps differ")
  -- with a large budget the target is reached
  local _, info = A.pgd(model, x, y, {eps = 0.5, alpha = 0.05, steps = 30, target = t})
  T.eq(info.success_rate, 1)
  T.ok(info.predicted:equal(t), "predictions are the targets")
  T.ok(info.target:equal(t), "info.target")
  -- 2 classes: targeting the other class is the untargeted optimum
  local W2 = tau.randn(D, 2)
  local y2 = labels{1, 2, 2, 1}
  local other = labels{2, 1, 1, 2}
  local xt = A.fgsm(linear(W2, tau.zeros(2)), x, y2, {eps = eps, target = other})
  T.ok(xt:equal(closed_form_2class(W2, x, y2, eps)), "2-class targeted = untargeted optimum")
end)

T.test("cw and dlr targeted attacks reach the target", function()
  tau.manual_seed(4)
  local D, C = 16, 5
  local model = linear(tau.randn(D, C), tau.zeros(C))
  local x = images(6, D, 0.3, 0.7)
  local y = model(x):argmax(2)
  local _, info = A.pgd(model, x, y, {eps = 0.5, alpha = 0.05, steps = 40, loss = "cw", target = "random", seed = 1})
  T.eq(info.success_rate, 1)
  T.ok(info.target:ne(y):sum():item() == 6, "random targets differ from the labels")
  -- targeted DLR only asks z_t to pass z_y (Croce & Hein's definition): its loss turns positive
  local xa, id = A.pgd(model, x, y, {eps = 0.5, alpha = 0.05, steps = 40, loss = "dlr", target = info.target})
  T.ok(id.loss:min():item() > 0, "z_t > z_y everywhere")
  local z = model(xa)
  T.ok((z:gather(2, info.target:view(6, 1)) - z:gather(2, y:view(6, 1))):min():item() > 0, "target above label")
end)

---------------------------------------------------------------------------- temperature

T.test("attack temperature: low tau follows the hardest wrong class, high tau the mean of all", function()
  tau.manual_seed(5)
  local D, C = 32, 4
  local W = tau.randn(D, C)
  local x = images(1, D, 0.3, 0.7)
  -- biases that set the logits to (1.0, 0.6, 0.2, 0.0): class 1 correct, class 2 the hardest
  -- wrong class by a clear gap
  local z0 = flat(x):matmul(W)
  local b = tau.tensor{1.0, 0.6, 0.2, 0.0} - z0[1]
  local model = linear(W, b)
  local y = labels{1}
  local g_lo = A.input_grad(model, x, y, {tau = 0.1})
  local g_hi = A.input_grad(model, x, y, {tau = 10})
  local wy = col(W, 1)
  local hardest = col(W, 2) - wy
  local mean_dir = W:mean(2) - wy
  T.ok(cosine(g_lo, hardest) > 0.99, "tau = 0.1 aligns with w_hardest - w_y: " .. cosine(g_lo, hardest))
  T.ok(cosine(g_hi, mean_dir) > 0.99, "tau = 10 aligns with mean(w) - w_y: " .. cosine(g_hi, mean_dir))
  T.ok(cosine(g_lo, mean_dir) < 0.98 and cosine(g_hi, hardest) < 0.98, "the two regimes are distinguishable")
  T.ok(cosine(g_lo, g_hi) < 0.98, "different step directions")
  -- the L-inf steps themselves differ
  local s_lo, s_hi = g_lo:sign(), g_hi:sign()
  T.ok(s_lo:ne(s_hi):sum():item() > 0, "sign(g) differs between temperatures")
  local x_lo = A.fgsm(model, x, y, {eps = 0.05, tau = 0.1})
  local x_hi = A.fgsm(model, x, y, {eps = 0.05, tau = 10})
  T.ok(not x_lo:equal(x_hi), "fgsm at tau 0.1 and 10 differ")
  -- tau = 1 is the plain cross-entropy of the raw logits
  local g1 = A.input_grad(model, x, y, {tau = 1})
  local xi = x:clone():requires_grad()
  local g_ref = tau.grad(F.cross_entropy(model(xi), y, {reduction = "sum"}), {xi})[1]
  T.close(g1, g_ref, 1e-5)
end)

T.test("a very low attack temperature saturates CE: zero gradients (masking), CW still attacks", function()
  tau.manual_seed(6)
  local D, C = 16, 3
  local W = tau.randn(D, C)
  local x = images(4, D, 0.3, 0.7)
  local z0 = flat(x):matmul(W)
  -- every sample correct by a logit margin of 5: softmax(z / 0.01) is exactly one-hot in float32
  local rows = {}
  for i = 1, 4 do rows[i] = tau.tensor{5, 0, -1} - z0[i] end
  local bias = tau.stack(rows, 1)
  local model = function(xx) return flat(xx):matmul(W) + bias end
  local y = labels{1, 1, 1, 1}
  local xa, info = A.pgd(model, x, y, {eps = 0.5, alpha = 0.1, steps = 10, tau = 0.01, random_start = false})
  T.eq(info.zero_grad_fraction, 1)
  T.ok(xa:equal(x), "no step was taken")
  T.eq(info.success_rate, 0)
  local _, info_cw = A.pgd(model, x, y, {eps = 0.5, alpha = 0.1, steps = 10, loss = "cw", random_start = false})
  T.eq(info_cw.zero_grad_fraction, 0)
  T.eq(info_cw.success_rate, 1)
end)

---------------------------------------------------------------------------- invariants

local function invariant_checker(model, x, eps, norm, frozen)
  local steps = 0
  return function(step, xa)
    steps = steps + 1
    T.ok(math.type(step) == "integer" and step >= 1, "step index")
    local d = xa - x
    if norm == "l2" then
      T.ok(per_sample_l2(d):max():item() <= eps + 1e-6, "l2 ball after step " .. step)
    else
      T.ok(max_abs(d) <= eps + 1e-6, "linf ball after step " .. step)
    end
    T.ok(xa:min():item() >= 0 and xa:max():item() <= 1, "pixels in [0, 1]")
    T.eq(model.training, false, "evaluation mode during the attack")
    for i, p in ipairs(model:parameters()) do
      T.ok(p:equal(frozen[i][1]), "parameter " .. i .. " untouched")
      if frozen[i][2] then T.ok(p.grad and p.grad:equal(frozen[i][2]), "grad " .. i .. " untouched")
      else T.ok(p.grad == nil, "grad " .. i .. " still nil") end
    end
  end, function() return steps end
end

T.test("invariants after every step: ball, box, parameters and .grad bit-identical, eval mode restored", function()
  tau.manual_seed(7)
  local D, C = 12, 4
  local model = module_model(tau.randn(D, C), tau.randn(C))
  local frozen = {}
  for i, p in ipairs(model:parameters()) do frozen[i] = {p:detach():clone(), p.grad and p.grad:clone() or false} end
  local x = tau.rand(5, 3, 2, 2) -- touches the box edges
  local y = labels{1, 2, 3, 4, 1}
  local cases = {
    {"pgd", {norm = "linf", eps = 0.1, steps = 6}, 6},
    {"pgd", {norm = "l2", eps = 0.4, alpha = 0.2, steps = 6, restarts = 2}, 12},
    {"pgd", {norm = "linf", eps = 0.1, steps = 3, loss = "dlr", target = "least_likely"}, 3},
    {"apgd", {norm = "linf", eps = 0.1, steps = 12}, 11},
    {"apgd", {norm = "l2", eps = 0.4, steps = 12, loss = "dlr"}, 11},
    {"fgsm", {eps = 0.1}, 1},
  }
  for _, c in ipairs(cases) do
    local kind, opts, expect = c[1], c[2], c[3]
    local check, count = invariant_checker(model, x, opts.eps, opts.norm, frozen)
    opts.on_step, opts.check = check, true
    model:train()
    local xa, info = A[kind](model, x, y, opts)
    T.eq(count(), expect, kind .. " step count")
    T.eq(model.training, true, kind .. " restores training mode")
    T.ok(info.success:dtype() == "int32" and info.success:size(1) == 5, "per-sample success")
    T.eq(info.loss:size(1), 5)
    if opts.norm == "l2" then T.ok(per_sample_l2(xa - x):max():item() <= opts.eps + 1e-6, "returned x_adv in the ball")
    else T.ok(max_abs(xa - x) <= opts.eps + 1e-6, "returned x_adv in the ball") end
    T.ok(xa:min():item() >= 0 and xa:max():item() <= 1, "returned x_adv in the box")
  end
end)

T.test("the previous mode is restored after an error, and grad mode and the generator too", function()
  local model = module_model(tau.randn(4, 2), tau.zeros(2))
  local inner = getmetatable(model).__call
  local n = 0
  getmetatable(model).__call = function(self, x)
    n = n + 1
    if n == 3 then error("boom") end
    return inner(self, x)
  end
  model:train()
  local x, y = tau.rand(2, 4), labels{1, 2}
  local err
  tau.no_grad(function()
    err = T.raises(function() A.pgd(model, x, y, {steps = 5, seed = 3}) end, "boom")
    T.eq(tau.is_grad_enabled(), false, "grad mode restored to off")
  end)
  T.eq(model.training, true)
  -- a seeded attack leaves the global stream where it was
  tau.manual_seed(9)
  local ref = tau.rand(3)
  tau.manual_seed(9)
  getmetatable(model).__call = inner
  A.pgd(model, x, y, {steps = 2, seed = 123})
  T.ok(tau.rand(3):equal(ref), "generator state restored")
  -- and inside no_grad the attack still gets its gradients
  tau.no_grad(function()
    local xa = A.fgsm(model, x, y, {eps = 0.1})
    T.ok(not xa:equal(x), "fgsm moved under no_grad")
  end)
end)

T.test("tau.nn modules: evaluation semantics (dropout off, BN statistics kept), modes restored", function()
  local nn = tau.nn
  if not nn or not nn.BatchNorm1d then T.skip("tau.nn.BatchNorm1d not available") end
  tau.manual_seed(8)
  local model = nn.Sequential{nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3)}
  model:train()
  local mods = model:modules()
  local relu = mods[4] -- modules() lists the container first
  relu:evaluate() -- a mixed mode must come back as it was
  local x, y = tau.rand(6, 8), labels{1, 2, 3, 1, 2, 3}
  local bufs = {}
  for i, bf in ipairs(model:buffers()) do bufs[i] = bf:clone() end
  local steps = 0
  local xa = A.pgd(model, x, y, {steps = 3, seed = 1, check = true, on_step = function()
    steps = steps + 1
    for _, m in ipairs(model:modules()) do T.eq(m.training, false, "every module in evaluation mode") end
  end})
  T.eq(steps, 3)
  for i, bf in ipairs(model:buffers()) do T.ok(bf:equal(bufs[i]), "buffer " .. i .. " untouched") end
  T.eq(model.training, true)
  T.eq(relu.training, false, "a child in evaluation mode stays so")
  T.eq(mods[2].training, true)
  T.eq(mods[5].training, true, "dropout back in training mode")
  T.ok(max_abs(xa - x) <= 8 / 255 + 1e-6)
end)

---------------------------------------------------------------------------- options

T.test("seeds, restarts, batching and targets", function()
  tau.manual_seed(10)
  local D, C = 10, 4
  local model = linear(tau.randn(D, C), tau.randn(C))
  local x, y = tau.rand(7, D), tau.randint(1, C, {7})
  local a = A.pgd(model, x, y, {steps = 3, seed = 5})
  local b = A.pgd(model, x, y, {steps = 3, seed = 5})
  local c = A.pgd(model, x, y, {steps = 3, seed = 6})
  T.ok(a:equal(b), "same seed, same attack")
  T.ok(not a:equal(c), "another seed, another start")
  -- batching gives the same result as one batch when nothing is random
  local o = {steps = 4, random_start = false, eps = 0.05}
  local whole, iw = A.pgd(model, x, y, o)
  o.batch = 3
  local parts, ip = A.pgd(model, x, y, o)
  T.ok(whole:equal(parts), "batch = 3 matches one batch")
  T.ok(iw.success:equal(ip.success) and iw.loss:equal(ip.loss), "info matches")
  -- restarts never lose a success, and the first restart is the single run
  local _, one = A.pgd(model, x, y, {eps = 0.03, steps = 3, seed = 2})
  local _, three = A.pgd(model, x, y, {eps = 0.03, steps = 3, seed = 2, restarts = 3})
  T.ok(three.success:ge(one.success):sum():item() == 7, "restarts keep successes")
  local worse = three.success:eq(0) * one.success:eq(0) * three.loss:lt(one.loss)
  T.eq(worse:sum():item(), 0, "restarts keep the highest loss")
  -- least-likely targets are the clean argmin; labels may be a float tensor or a table
  local _, info = A.pgd(model, x, y:float(), {steps = 1, target = "least_likely"})
  T.ok(info.target:equal(model(x):argmin(2)), "least likely")
  local _, i2 = A.fgsm(model, x, y:totable(), {eps = 0.01})
  T.eq(i2.n, 7)
  -- an empty batch
  local e, ie = A.pgd(model, tau.zeros(0, D), tau.zeros({0}, "int32"))
  T.eq(e:size(1), 0)
  T.eq(ie.n, 0)
end)

T.test("apgd: checkpoints, step sizes from 2 eps halving, best point kept", function()
  T.eq(table.concat((function()
    local s, out = A._checkpoints(100), {}
    for k in pairs(s) do out[#out + 1] = k end
    table.sort(out)
    return out
  end)(), ","), "22,41,57,70,80,87,93,99")
  tau.manual_seed(11)
  local D, C = 20, 5
  local model = linear(tau.randn(D, C), tau.randn(C))
  local x, y = tau.rand(8, D), tau.randint(1, C, {8})
  local eps = 0.03
  local seen_half = false
  local prev
  local _, info = A.apgd(model, x, y, {eps = eps, steps = 40, on_step = function(i, xa, inf)
    local s = inf.step_size
    T.ok(s:max():item() <= 2 * eps + 1e-7, "step sizes start at 2 eps")
    for _, v in ipairs(s:totable()) do
      local k = math.log(2 * eps / v, 2)
      T.ok(math.abs(k - math.floor(k + 0.5)) < 1e-4, "step size is 2 eps / 2^k")
    end
    if prev then T.ok(s:le(prev):sum():item() == 8, "step sizes never grow") end
    if s:min():item() < 2 * eps - 1e-7 then seen_half = true end
    prev = s
  end})
  T.ok(seen_half, "some sample halved its step size")
  -- the returned loss is the best seen: at least that of the final forward on x_adv
  T.eq(info.loss:size(1), 8)
end)

---------------------------------------------------------------------------- a trained model

-- Three separable Gaussian blobs in [0, 1]^32 and an MLP trained with plain SGD.
local function blobs(n, means, sd)
  local C, D = #means, means[1]:size(1)
  local y = tau.randint(1, C, {n})
  local rows = {}
  local yt = y:totable()
  for i = 1, n do rows[i] = means[yt[i]] end
  local x = (tau.stack(rows, 1) + tau.randn(n, D) * sd):clamp(0, 1)
  return x, y
end

local trained
local function trained_model()
  if trained then return trained end
  tau.manual_seed(12)
  local D, H, C = 32, 32, 3
  local means = {}
  for c = 1, C do means[c] = tau.rand(D) * 0.4 + 0.3 end
  local xtr, ytr = blobs(600, means, 0.08)
  local xte, yte = blobs(200, means, 0.08)
  local W1 = (tau.randn(D, H) * (1 / math.sqrt(D))):requires_grad()
  local b1 = tau.zeros(H):requires_grad()
  local W2 = (tau.randn(H, C) * (1 / math.sqrt(H))):requires_grad()
  local b2 = tau.zeros(C):requires_grad()
  local params = {W1, b1, W2, b2}
  local function net(x) return F.relu(x:matmul(W1) + b1):matmul(W2) + b2 end
  for _ = 1, 300 do
    local loss = F.cross_entropy(net(xtr), ytr)
    local gs = tau.grad(loss, params)
    tau.no_grad(function()
      for i, p in ipairs(params) do p:add_(-0.5, gs[i]) end
    end)
  end
  trained = {net = net, x = xte, y = yte, params = params}
  return trained
end

T.test("pgd lowers the accuracy of a trained model; apgd is at least as strong with the same budget", function()
  local m = trained_model()
  local clean = A.accuracy(m.net, m.x, m.y)
  T.ok(clean >= 0.95, "trained to high clean accuracy: " .. clean)
  local snap = {}
  for i, p in ipairs(m.params) do snap[i] = p:detach():clone() end
  local eps = 0.08
  local _, ipgd = A.pgd(m.net, m.x, m.y, {eps = eps, alpha = eps / 4, steps = 10, seed = 1})
  local _, iapgd = A.apgd(m.net, m.x, m.y, {eps = eps, steps = 10, seed = 1})
  local _, idlr = A.apgd(m.net, m.x, m.y, {eps = eps, steps = 10, seed = 1, loss = "dlr"})
  T.ok(ipgd.accuracy < clean - 0.2, string.format("pgd: %.3f vs clean %.3f", ipgd.accuracy, clean))
  T.ok(iapgd.accuracy <= ipgd.accuracy,
       string.format("apgd-ce %.3f <= pgd %.3f", iapgd.accuracy, ipgd.accuracy))
  T.ok(idlr.accuracy <= ipgd.accuracy + 0.02,
       string.format("apgd-dlr %.3f vs pgd %.3f", idlr.accuracy, ipgd.accuracy))
  T.near(ipgd.clean_accuracy, clean, 1e-9)
  T.near(ipgd.accuracy + ipgd.success_rate, 1, 1e-9)
  -- a larger budget breaks it
  local _, big = A.pgd(m.net, m.x, m.y, {eps = 0.15, alpha = 0.02, steps = 20})
  T.ok(big.accuracy < 0.05, "eps 0.15: " .. big.accuracy)
  for i, p in ipairs(m.params) do
    T.ok(p:equal(snap[i]), "parameter untouched")
    T.ok(p.grad == nil, "no .grad appeared")
  end
end)

T.test("transfer and accuracy helpers", function()
  local m = trained_model()
  local other = linear(tau.randn(32, 3), tau.zeros(3))
  local xa, acc, info = A.transfer(m.net, m.net, m.x, m.y, {eps = 0.04, steps = 5, seed = 1})
  T.near(acc, info.source_accuracy, 1e-9)
  T.eq(xa:size(1), 200)
  local _, acc2, info2 = A.transfer(m.net, other, m.x, m.y, {eps = 0.04, attack = "fgsm"})
  T.ok(acc2 >= 0 and acc2 <= 1)
  T.near(info2.target_clean_accuracy, A.accuracy(other, m.x, m.y), 1e-9)
  local a, c = A.accuracy(m.net, m.x, m.y, {batch = 64})
  T.near(a, A.accuracy(m.net, m.x, m.y), 1e-9)
  T.eq(c, math.floor(a * 200 + 0.5))
  T.raises(function() A.transfer(m.net, other, m.x, m.y, {attack = "cw"}) end,
           "tau.attack.transfer: unknown attack 'cw'")
end)

---------------------------------------------------------------------------- losses and kernels

T.test("attack losses: ce at a temperature, cw margin, dlr", function()
  local z = tau.tensor{{3, 0, 4, 1}, {1, 2, 0, -1}}
  local y = labels{1, 2}
  T.close(A.loss(z, y, {tau = 2}), F.cross_entropy(z, y, {tau = 2, reduction = "none"}), 1e-6)
  T.close(A.loss(z, y, {loss = "cw"}), {1, -1}, 1e-6)
  T.close(A.loss(z, y, {loss = "cw", target = labels{2, 1}}), {-4, -1}, 1e-6)
  T.close(A.loss(z, y, {loss = "dlr"}), {1 / 3, -1 / 2}, 1e-6)
  T.close(A.loss(z, y, {loss = "dlr", target = labels{2, 1}}), {-3 / 3.5, -1 / 2.5}, 1e-6)
  -- differentiable: d(cw)/dz is +1 at the runner-up and -1 at the label
  local zz = z:clone():requires_grad()
  local g = tau.grad(K.margin_loss(zz, y, {kind = "cw"}):sum(), {zz})[1]
  T.close(g, {{-1, 0, 1, 0}, {1, -1, 0, 0}})
end)

T.test("tau._attack kernels from Lua", function()
  local x0 = tau.full({2, 3}, 0.5)
  local g = tau.tensor{{1, -1, 0}, {0, 0, 0}}
  local x1, nz = K.pgd_step(x0, g, x0, {eps = 0.1, alpha = 0.04})
  T.close(x1, {{0.54, 0.46, 0.5}, {0.5, 0.5, 0.5}}, 1e-6)
  T.eq(nz, 1)
  local xd = K.pgd_step(x0, g, x0, {eps = 0.1, alpha = 0.04, descend = true})
  T.close(xd, {{0.46, 0.54, 0.5}, {0.5, 0.5, 0.5}}, 1e-6)
  local xs = K.pgd_step(x0, tau.ones(2, 3), x0, {eps = 0.1, alpha = tau.tensor{0.01, 0.02}})
  T.close(xs, {{0.51, 0.51, 0.51}, {0.52, 0.52, 0.52}}, 1e-6)
  local xl = K.pgd_step(x0, tau.tensor{{3, 4, 0}, {0, 0, 0}}, x0, {eps = 1, alpha = 0.1, norm = "l2"})
  T.close(xl, {{0.56, 0.58, 0.5}, {0.5, 0.5, 0.5}}, 1e-6)
  T.close(K.perturbation_norm(xl, x0, {norm = "l2"}), {0.1, 0}, 1e-6)
  T.close(K.project(tau.full({2, 3}, 0.9), x0, {eps = 0.1}), tau.full({2, 3}, 0.6), 1e-6)
  tau.manual_seed(1)
  local r = K.random_start(tau.full({4, 100}, 0.5), {eps = 0.2, norm = "l2"})
  T.ok(per_sample_l2(r - 0.5):max():item() <= 0.2 + 1e-6, "l2 random start in the ball")
  local xa = K.apgd_step(x1, x0, g, x0, {eps = 0.1, alpha = 0.04, momentum = 1})
  T.close(xa, K.pgd_step(x1, g, x0, {eps = 0.1, alpha = 0.04}), 1e-7)
  T.ok(x1.grad == nil and not x1.needs_grad, "a plain tensor comes back")
end)

---------------------------------------------------------------------------- errors

T.test("errors name the function and the problem", function()
  local model = linear(tau.randn(6, 3), tau.zeros(3))
  local x, y = tau.rand(4, 6), labels{1, 2, 3, 1}
  T.raises(function() A.pgd(model, x, y, {norm = "l1"}) end, "tau.attack.pgd: unknown norm 'l1' (expected 'linf' or 'l2')")
  T.raises(function() A.pgd(model, x, y, {eps = -0.1}) end, "tau.attack.pgd: eps must be a non-negative number, got -0.1")
  T.raises(function() A.fgsm(model, x, y, {eps = 0 / 0}) end, "tau.attack.fgsm: eps must be a non-negative number")
  T.raises(function() A.apgd(model, x, y, {rho = 2}) end, "tau.attack.apgd: rho must be a number in [0, 1], got 2")
  T.raises(function() A.pgd(model, x, y, {steps = 2.5}) end, "steps must be a non-negative integer, got 2.5")
  T.raises(function() A.pgd(model, x, y, {loss = "hinge"}) end, "unknown loss 'hinge' (expected 'ce', 'cw' or 'dlr')")
  T.raises(function() A.pgd(model, x, y, {step = 3}) end, "tau.attack.pgd: unknown option 'step'")
  T.raises(function() A.pgd(model, x, y, {tau = 0}) end, "tau must be a positive number, got 0")
  T.raises(function() A.pgd(model, x, labels{1, 2, 3}) end,
           "tau.attack.pgd: labels of size [3] do not match 4 images (expected [4])")
  T.raises(function() A.pgd(model, x, labels{1, 2, 4, 1}) end, "tau.attack.pgd: label 4 out of range 1..3 at sample 3")
  T.raises(function() A.pgd(model, x, labels{0, 2, 3, 1}) end, "label 0 out of range 1..3 at sample 1")
  T.raises(function() A.pgd(model, x, y, {target = labels{1, 2, 9, 1}}) end,
           "tau.attack.pgd: target label 9 out of range 1..3 at sample 3")
  T.raises(function() A.pgd(model, x, y, {target = labels{1, 2}}) end, "target labels of size [2] do not match 4 images")
  T.raises(function() A.pgd(model, x, y, {targeted = true}) end, "a targeted attack needs a target")
  T.raises(function() A.pgd(model, x, y, {targeted = false, target = y}) end, "a target was given but targeted = false")
  T.raises(function() A.pgd(model, x, y, {target = "most_likely"}) end, "unknown target 'most_likely'")
  T.raises(function() A.pgd(model, x * 2, y) end, "tau.attack.pgd: images must lie in [0, 1]")
  local xn = x:clone()
  xn:set_flat(7, 0 / 0)
  T.raises(function() A.pgd(model, xn, y) end, "tau.attack.pgd: images contain NaN (sample 2)")
  T.raises(function() A.pgd(model, x, y:float() + 0.5) end, "labels must hold integers")
  T.raises(function() A.pgd(42, x, y) end, "tau.attack.pgd: model must be callable")
  T.raises(function() A.pgd(function() return 1 end, x, y) end, "the model must return a tensor of logits (N, K), got number")
  T.raises(function() A.pgd(function() return tau.zeros(3, 2) end, x, y) end,
           "the model must return logits of size (N, K) with N = 4, got [3, 2]")
  local two = linear(tau.randn(6, 2), tau.zeros(2))
  T.raises(function() A.pgd(two, x, labels{1, 2, 1, 2}, {loss = "dlr"}) end,
           "tau.attack.pgd: the dlr loss needs at least 3 classes, got 2")
  -- a model whose gradient turns NaN
  local nan_model = function(xx) return flat(xx):matmul(tau.full({6, 3}, 0 / 0)) end
  T.raises(function() A.pgd(nan_model, x, y, {loss = "cw"}) end, "tau.attack.pgd: the gradient contains NaN")
  -- the kernels
  T.raises(function() K.pgd_step(x, tau.rand(4, 5), x, {eps = 0.1, alpha = 0.1}) end,
           "tau._attack.pgd_step: gradient of size [4, 5] does not match x of size [4, 6]")
  T.raises(function() K.pgd_step(x, x, tau.rand(3, 6), {eps = 0.1, alpha = 0.1}) end,
           "x0 of size [3, 6] does not match x of size [4, 6]")
  T.raises(function() K.pgd_step(x, x, x, {eps = -1, alpha = 0.1}) end, "tau._attack.pgd_step: eps must be a non-negative number")
  T.raises(function() K.pgd_step(x, x, x, {eps = 0.1, alpha = 0.1, norm = "l7"}) end, "unknown norm 'l7'")
  T.raises(function() K.pgd_step(x, x, x, {eps = 0.1}) end, "option 'alpha' (the step size) is required")
  T.raises(function() K.pgd_step(x, xn, x, {eps = 0.1, alpha = 0.1}) end, "the gradient contains NaN (sample 2)")
  T.raises(function() K.apgd_step(x, x, x, x, {eps = 0.1, alpha = tau.ones(3)}) end,
           "tau._attack.apgd_step: alpha must be a number or a float32 tensor of 4 per-sample step sizes")
  T.raises(function() K.pgd_step(x, xn, x, {eps = 0.1, alpha = 0.1, name = "my.attack"}) end, "my.attack: the gradient")
  T.raises(function() K.margin_loss(tau.rand(2, 3), labels{1, 2}, {kind = "hinge"}) end, "unknown margin loss 'hinge'")
end)
