-- tau.analysis: what a trained model's last layer does, measured.
--
--   ce_gradient(features, W, labels, tau, {bias})  the cross-entropy's gradient w.r.t. the
--       features, split as the paper argues: dL/df = -((1 - p_y)/tau) (w_y - sum_{i~=y} q_i w_i),
--       q the softmax over the wrong classes at tau.
--   tsne(x, {dims, perplexity, iters, seed, theta, exact, ...})  t-SNE (C, core/tsne.c)
--   knn_accuracy(emb, labels, {k}), silhouette(emb, labels)     how well classes separate
--   penultimate(model, ds, {limit, batch})  a model's last-layer inputs, W and b on a data set
--   gradient_stats(model, ds, tau, {limit, batch})  ce_gradient's parts averaged over images,
--       with the norm of the loss's gradient w.r.t. the input images
--   descent_path(f, W, label, tau, {lr, steps})  a feature's path under gradient descent
local tau = require "tau"
local F = tau.F
local A = tau._analysis
local analysis = {}

-- The C functions run under pcall (their messages carry no position) and errors are re-raised
-- at level 3, the caller of the public function; callers must not tail-call `call`.
local function call(fn, ...)
  local r = table.pack(pcall(fn, ...))
  if not r[1] then error(r[2], 3) end
  return table.unpack(r, 2, r.n)
end

-- Returns the options table, or raises at the caller's caller: unknown keys are refused so a
-- misspelt option is never silently ignored.
local function options(fn, o, allowed)
  if o == nil then return {} end
  if type(o) ~= "table" then error(string.format("%s: options must be a table, got %s", fn, type(o)), 3) end
  for k in pairs(o) do
    if not allowed[k] then
      local names = {}
      for a in pairs(allowed) do names[#names + 1] = a end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (valid: %s)", fn, tostring(k), table.concat(names, ", ")), 3)
    end
  end
  return o
end

local function shape_str(t) return "[" .. table.concat(t:size(), ", ") .. "]" end

local function check_matrix(fn, what, t, level)
  if not tau.is_tensor(t) then error(string.format("%s: %s must be a float32 tensor, got %s", fn, what, type(t)), level) end
  if t:dtype() ~= "float32" or t:dim() ~= 2 then
    error(string.format("%s: %s must be a 2-D float32 tensor, got %s %s", fn, what, t:dtype(), shape_str(t)), level)
  end
  if t:numel() == 0 then error(string.format("%s: %s is empty, size %s", fn, what, shape_str(t)), level) end
end

-- NaN and inf give x - x ~= 0.
local function check_finite(fn, what, t, level)
  if (t - t):ne(0):sum():item() > 0 then
    error(string.format("%s: %s holds NaN or infinite values", fn, what), level)
  end
end

local CE_KEYS = {bias = true}

function analysis.ce_gradient(features, W, labels, t, o)
  local fn = "tau.analysis.ce_gradient"
  o = options(fn, o, CE_KEYS)
  check_matrix(fn, "features", features, 2)
  check_matrix(fn, "W", W, 2)
  local N, D, C = features:size(1), features:size(2), W:size(1)
  if W:size(2) ~= D then
    error(string.format("%s: features are %s and W is %s (W must be (classes, %d))", fn, shape_str(features), shape_str(W), D), 2)
  end
  if C < 2 then error(fn .. ": W must have at least 2 classes (rows), got " .. C, 2) end
  if not tau.is_tensor(labels) or labels:dtype() ~= "int32" or labels:dim() ~= 1 then
    error(fn .. ": labels must be a 1-D int32 tensor of classes 1..C", 2)
  end
  if labels:size(1) ~= N then error(string.format("%s: %d labels for %d features", fn, labels:size(1), N), 2) end
  local lo, hi = labels:min():item(), labels:max():item()
  if lo < 1 or hi > C then error(string.format("%s: labels must be in 1..%d, got %d..%d", fn, C, lo, hi), 2) end
  if type(t) ~= "number" or not (t > 0) or t == math.huge then
    error(fn .. ": tau must be a positive finite number, got " .. tostring(t), 2)
  end
  local b = o.bias
  if b ~= nil and (not tau.is_tensor(b) or b:dim() ~= 1 or b:size(1) ~= C) then
    error(string.format("%s: bias must be a float32 tensor of size [%d]", fn, C), 2)
  end
  check_finite(fn, "features", features, 2)
  check_finite(fn, "W", W, 2)
  if b then check_finite(fn, "bias", b, 2) end
  return tau.no_grad(function()
    local z = features:matmul(W:t())
    if b then z = z + b end
    local y = tau.one_hot(labels, C):gt(0)                       -- (N, C) true at the label
    local p = F.softmax(z, {dim = 2, tau = t})
    -- 1 - p_y summed over the wrong classes, which keeps its digits when p_y is near 1
    local rest = tau.where(y, 0, p):sum(2)
    local wrong = tau.where(y, -math.huge, z)
    local q = F.softmax(wrong, {dim = 2, tau = t})
    local logq = tau.where(y, 0, F.log_softmax(wrong, {dim = 2, tau = t}))
    local entropy = -(q * logq):sum(2)
    local hardest_weight, hardest = q:max(2)
    local Wy = tau.one_hot(labels, C):matmul(W)                   -- (N, D)
    local dir = Wy - q:matmul(W)                                  -- w_y - sum q_i w_i
    local step = rest / t
    local grad = -(dir * step:view(N, 1))
    local e = Wy - tau.one_hot(hardest, C):matmul(W)              -- w_y - w_hardest
    local cos = (dir * e):sum(2) / ((dir * dir):sum(2):sqrt() * (e * e):sum(2):sqrt())
    local angle = cos:clamp(-1, 1)
    local deg = {}
    for i, c in ipairs(angle:totable()) do deg[i] = math.deg(math.acos(c)) end
    return {step = step, entropy = entropy, hardest_weight = hardest_weight, hardest = hardest,
            angle = tau.tensor(deg), grad_norm = (grad * grad):sum(2):sqrt(), grad = grad, p_y = 1 - rest}
  end)
end

local TSNE_KEYS = {dims = true, perplexity = true, iters = true, seed = true, theta = true, exact = true,
                   learning_rate = true, exaggeration = true, exaggeration_iters = true}

-- tsne(x (N, D), {dims = 2, perplexity = 30, iters = 1000, seed = 0, theta = 0.5,
--                 exact = nil (exact up to 2000 points, Barnes-Hut beyond) | true | false,
--                 learning_rate = max(N / exaggeration / 4, 50), exaggeration = 12,
--                 exaggeration_iters = min(250, iters / 4)})
--   -> (N, dims). The same input, options and seed give the same bits at any thread count.
function analysis.tsne(x, o)
  o = options("tau.analysis.tsne", o, TSNE_KEYS)
  local exact = o.exact
  if exact ~= nil and type(exact) ~= "boolean" then
    error("tau.analysis.tsne: option 'exact' must be true, false or nil, got " .. type(exact), 2)
  end
  local lr = o.learning_rate
  if lr ~= nil and (type(lr) ~= "number" or not (lr > 0)) then
    error("tau.analysis.tsne: option 'learning_rate' must be a positive number, got " .. tostring(lr), 2)
  end
  local function d(v, def) if v == nil then return def end return v end
  local y = call(A.tsne, x, d(o.dims, 2), d(o.perplexity, 30), d(o.iters, 1000), d(o.seed, 0), d(o.theta, 0.5),
                 exact == nil and -1 or (exact and 1 or 0), d(lr, 0), d(o.exaggeration, 12),
                 d(o.exaggeration_iters, -1))
  return y
end

function analysis.knn_accuracy(emb, labels, o)
  o = options("tau.analysis.knn_accuracy", o, {k = true})
  local a = call(A.knn_accuracy, emb, labels, o.k == nil and 5 or o.k)
  return a
end

function analysis.silhouette(emb, labels)
  local s = call(A.silhouette, emb, labels)
  return s
end

-- The model's output layer: the last nn.Linear in module order (the classifier's last layer in
-- tau.models' CNN, ResNet and ViT).
function analysis.last_linear(model)
  local last
  for _, m in ipairs(model:modules()) do if m.__name == "Linear" then last = m end end
  if not last then error("tau.analysis.last_linear: the model has no nn.Linear layer", 2) end
  return last
end

-- The inputs of the model's last Linear layer for the first `limit` images of ds (eval mode,
-- no gradients): features (N, D), labels (N), logits (N, C), and that layer's W (C, D) and b.
function analysis.penultimate(model, ds, o)
  o = options("tau.analysis.penultimate", o, {limit = true, batch = true})
  local head = analysis.last_linear(model)
  local n = math.min(o.limit or ds:size(), ds:size())
  local feats, labels, logits, seen = {}, {}, {}, nil
  rawset(head, "forward", function(self, x)
    seen = x
    return F.linear(x, self.weight, self.bias)
  end)
  local was = model.training
  model:evaluate()
  local ok, err = pcall(tau.no_grad, function()
    for x, y in tau.data.loader(ds:subset(n), {batch = o.batch or 256}) do
      logits[#logits + 1] = model(x)
      feats[#feats + 1], labels[#labels + 1] = seen, y
    end
  end)
  rawset(head, "forward", nil)
  if was then model:train() end
  if not ok then error(err, 2) end
  return {features = tau.cat(feats, 1), labels = tau.cat(labels, 1), logits = tau.cat(logits, 1),
          W = head.weight:detach(), b = head.bias and head.bias:detach() or nil}
end

local STATS_KEYS = {limit = true, batch = true}

-- Means over the first `limit` images of ds of ce_gradient's step, entropy, hardest_weight,
-- angle and grad_norm at temperature t, the accuracy, and input_grad_norm: the mean over
-- images of |d loss_n / d x_n| (eval mode, so each image's loss depends on its own pixels only).
function analysis.gradient_stats(model, ds, t, o)
  o = options("tau.analysis.gradient_stats", o, STATS_KEYS)
  local r = analysis.penultimate(model, ds, o)
  local g = analysis.ce_gradient(r.features, r.W, r.labels, t, {bias = r.b})
  local out = {n = r.labels:size(1)}
  for _, k in ipairs{"step", "entropy", "hardest_weight", "angle", "grad_norm", "p_y"} do out[k] = g[k]:mean():item() end
  out.accuracy = r.logits:argmax(2):eq(r.labels):float():mean():item()
  local was = model.training
  model:evaluate()
  local sum = 0
  for x, y in tau.data.loader(ds:subset(out.n), {batch = o.batch or 256}) do
    x = x:requires_grad()
    local gx = tau.grad(F.cross_entropy(model(x), y, {tau = t, reduction = "sum"}), {x})[1]
    sum = sum + (gx * gx):view(x:size(1), -1):sum(2):sqrt():sum():item()
  end
  if was then model:train() end
  out.input_grad_norm = sum / out.n
  return out
end

-- The path of one feature f (a table of D numbers) with label `label` under plain gradient
-- descent on the cross-entropy at t against fixed class prototypes W (C, D): steps + 1 points
-- {f = {...}, step = (1 - p_y)/t, hardest_weight, angle}.
function analysis.descent_path(f, W, label, t, o)
  o = options("tau.analysis.descent_path", o, {lr = true, steps = true})
  local lr, steps = o.lr or 0.1, o.steps or 50
  local y = tau.tensor({label}, "int32")
  local path = {}
  local x = tau.tensor({f})
  for s = 0, steps do
    local g = analysis.ce_gradient(x, W, y, t)
    path[#path + 1] = {f = x[1]:totable(), step = g.step[1], hardest_weight = g.hardest_weight[1], angle = g.angle[1]}
    if s < steps then x = x - g.grad * lr end
  end
  return path
end

return analysis
