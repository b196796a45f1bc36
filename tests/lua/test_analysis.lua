-- tau.analysis: the cross-entropy's feature gradient against autograd and finite differences,
-- t-SNE on generated Gaussian clusters (separation, determinism, Barnes-Hut against exact), the
-- separation measures on hand-computed cases, penultimate features, and bad input.
local T = ...
local A = tau.analysis
local F = tau.F

-- ---------------------------------------------------------------- ce_gradient

local function problem(seed, N, D, C)
  tau.manual_seed(seed)
  local f, W = tau.randn(N, D), tau.randn(C, D)
  local lab = {}
  for i = 1, N do lab[i] = (i * 7) % C + 1 end
  return f, W, tau.tensor(lab, "int32")
end

T.test("ce_gradient equals autograd of F.cross_entropy at every tau, with and without bias", function()
  local f, W, y = problem(1, 12, 6, 5)
  local b = tau.randn(5)
  for _, t in ipairs{0.05, 0.5, 1, 5, 50} do
    for _, bias in ipairs{false, true} do
      local fx = f:clone():requires_grad()
      local z = fx:matmul(W:t())
      if bias then z = z + b end
      -- cross_entropy is the batch mean, so a sample's own gradient is N times its share
      local g = tau.grad(F.cross_entropy(z, y, {tau = t}), {fx})[1] * 12
      local r = A.ce_gradient(f, W, y, t, bias and {bias = b} or nil)
      T.eq(r.grad:size(1), 12); T.eq(r.grad:size(2), 6)
      local scale = math.max(1, g:abs():max():item())
      T.ok((g - r.grad):abs():max():item() < 1e-5 * scale, "tau " .. t .. " bias " .. tostring(bias))
    end
  end
end)

T.test("ce_gradient equals central finite differences of the per-sample loss", function()
  local f, W, y = problem(2, 4, 3, 4)
  for _, t in ipairs{0.5, 2, 10} do
    local r = A.ce_gradient(f, W, y, t)
    local function loss(x) return F.cross_entropy(x:matmul(W:t()), y, {tau = t, reduction = "sum"}):item() end
    local base = f:totable()
    local h = 1e-2
    for i = 1, 4 do
      for k = 1, 3 do
        local up, dn = f:totable(), f:totable()
        up[i][k], dn[i][k] = base[i][k] + h, base[i][k] - h
        local fd = (loss(tau.tensor(up)) - loss(tau.tensor(dn))) / (2 * h)
        T.near(r.grad[i][k], fd, 2e-3, string.format("tau %g, sample %d, coordinate %d", t, i, k))
      end
    end
  end
end)

T.test("ce_gradient's parts: step, q's entropy and hardest weight, angle, norm", function()
  local f, W, y = problem(3, 20, 8, 6)
  local C = 6
  for _, t in ipairs{0.02, 1, 1000} do
    local r = A.ce_gradient(f, W, y, t)
    local p = F.softmax(f:matmul(W:t()), {dim = 2, tau = t})
    local py = (p * tau.one_hot(y, C)):sum(2)
    T.close(r.step, (1 - py) / t, 1e-4)
    T.close(r.p_y, py, 1e-5)
    T.close(r.grad_norm, (r.grad * r.grad):sum(2):sqrt(), 1e-5)
    for i = 1, 20 do
      local H, w, a = r.entropy[i], r.hardest_weight[i], r.angle[i]
      T.ok(H >= -1e-6 and H <= math.log(C - 1) + 1e-5, "entropy in [0, log(C-1)]")
      T.ok(w >= 1 / (C - 1) - 1e-6 and w <= 1 + 1e-6, "hardest weight in [1/(C-1), 1]")
      T.ok(a >= 0 and a <= 180, "angle in degrees")
      T.ok(r.hardest[i] ~= y[i], "the hardest class is a wrong one")
    end
    if t == 0.02 then  -- low tau: q is one-hot on the hardest class, the update points at it
      T.ok(r.hardest_weight:min():item() > 0.99, "low tau: q concentrates")
      T.ok(r.angle:max():item() < 1, "low tau: update along w_y - w_hardest")
    elseif t == 1000 then  -- high tau: q is uniform over the wrong classes
      T.ok(r.entropy:min():item() > math.log(C - 1) - 1e-3, "high tau: q uniform")
    end
  end
end)

T.test("ce_gradient refuses bad input, naming the function", function()
  local f, W, y = problem(4, 5, 3, 4)
  local fn = "tau.analysis.ce_gradient"
  T.raises(function() A.ce_gradient(f, tau.randn(4, 2), y, 1) end, fn, "W must be (classes, 3)")
  T.raises(function() A.ce_gradient(f, W, tau.tensor({1, 2, 3}, "int32"), 1) end, fn, "3 labels for 5 features")
  T.raises(function() A.ce_gradient(f, W, tau.tensor({1, 2, 3, 4, 5}, "int32"), 1) end, fn, "labels must be in 1..4")
  T.raises(function() A.ce_gradient(f, W, tau.tensor({0, 2, 3, 4, 1}, "int32"), 1) end, fn, "labels must be in 1..4")
  T.raises(function() A.ce_gradient(f, W, y, 0) end, fn, "tau must be a positive")
  T.raises(function() A.ce_gradient(f, W, y, -1) end, fn, "tau must be a positive")
  T.raises(function() A.ce_gradient(f, W, y, 0 / 0) end, fn, "tau must be a positive")
  local bad = f:clone(); bad[2][2] = 0 / 0
  T.raises(function() A.ce_gradient(bad, W, y, 1) end, fn, "features holds NaN")
  T.raises(function() A.ce_gradient(tau.zeros(0, 3), W, tau.tensor({}, "int32"), 1) end, fn, "features is empty")
  T.raises(function() A.ce_gradient(f, W, y:float(), 1) end, fn, "labels must be a 1-D int32")
  T.raises(function() A.ce_gradient(f, W, y, 1, {biass = 1}) end, fn, "unknown option 'biass'")
  T.raises(function() A.ce_gradient(f, W, y, 1, {bias = tau.zeros(3)}) end, fn, "bias must be")
  local err = T.raises(function() A.ce_gradient(f, W, y, 0) end)
  T.ok(err:find("test_analysis.lua", 1, true), "the error points at the caller: " .. err)
end)

-- ---------------------------------------------------------------- t-SNE

-- k well-separated Gaussian clusters of m points in d dimensions, labels 1..k.
local function clusters(seed, k, m, d, spread)
  tau.manual_seed(seed)
  local lab = {}
  for i = 1, k * m do lab[i] = (i - 1) % k + 1 end
  local y = tau.tensor(lab, "int32")
  local centres = tau.randn(k, d) * (spread or 5)
  return tau.randn(k * m, d) + tau.one_hot(y, k):matmul(centres), y
end

local FAST = {iters = 400, perplexity = 15}
local function with(o, extra)
  local r = {}
  for k, v in pairs(o) do r[k] = v end
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

T.test("tsne separates Gaussian clusters (k-NN accuracy in the embedding >= 0.95)", function()
  local x, y = clusters(10, 5, 40, 20)
  local e = A.tsne(x, FAST)
  T.eq(e:size(1), 200); T.eq(e:size(2), 2)
  local acc = A.knn_accuracy(e, y, {k = 5})
  T.ok(acc >= 0.95, "k-NN accuracy " .. acc)
  T.ok(A.silhouette(e, y) > 0.5, "silhouette " .. A.silhouette(e, y))
  local e3 = A.tsne(x, with(FAST, {dims = 3}))
  T.eq(e3:size(2), 3)
  T.ok(A.knn_accuracy(e3, y) >= 0.95, "3-D embedding")
end)

T.test("tsne: the same seed gives the same bits at any thread count, another seed another layout", function()
  local x = clusters(11, 3, 30, 8)
  local threads = tau.get_num_threads()
  local ok, err = pcall(function()
    for _, exact in ipairs{true, false} do
      tau.set_num_threads(1)
      local a = A.tsne(x, with(FAST, {seed = 7, exact = exact}))
      tau.set_num_threads(2)
      local b = A.tsne(x, with(FAST, {seed = 7, exact = exact}))
      local c = A.tsne(x, with(FAST, {seed = 8, exact = exact}))
      T.eq((a - b):abs():max():item(), 0, "same seed, exact = " .. tostring(exact))
      T.ok((a - c):abs():max():item() > 1e-3, "another seed, exact = " .. tostring(exact))
    end
  end)
  tau.set_num_threads(threads)
  if not ok then error(err, 0) end
end)

-- Neighbourhood preservation: the mean fraction of each point's k nearest neighbours in x that
-- are also among its k nearest in the embedding e.
local function preserved(x, e, k)
  local function knn(t)
    local sq = (t * t):sum(2)
    local d = (sq:view(-1, 1) + sq:view(1, -1) - t:matmul(t:t()) * 2):totable()
    local out = {}
    for i = 1, #d do
      local idx = {}
      for j = 1, #d do if j ~= i then idx[#idx + 1] = j end end
      table.sort(idx, function(a, b) return d[i][a] < d[i][b] end)
      out[i] = {}
      for j = 1, k do out[i][idx[j]] = true end
    end
    return out
  end
  local a, b = knn(x), knn(e)
  local s = 0
  for i = 1, #a do for j in pairs(a[i]) do if b[i][j] then s = s + 1 end end end
  return s / (#a * k)
end

T.test("Barnes-Hut is close to exact: 10-NN preservation within 0.05, both separate the clusters", function()
  local x, y = clusters(12, 4, 40, 10, 3)
  local ex = A.tsne(x, with(FAST, {exact = true}))
  local bh = A.tsne(x, with(FAST, {exact = false, theta = 0.5}))
  local pe, pb = preserved(x, ex, 10), preserved(x, bh, 10)
  T.ok(math.abs(pe - pb) <= 0.05, string.format("preservation exact %.3f, Barnes-Hut %.3f", pe, pb))
  T.ok(pe > 0.3 and pb > 0.3, string.format("preservation exact %.3f, Barnes-Hut %.3f", pe, pb))
  T.ok(A.knn_accuracy(bh, y) >= 0.95 and A.knn_accuracy(ex, y) >= 0.95, "both separate")
end)

T.test("knn_accuracy and silhouette on hand-computed cases", function()
  -- class 1 at 0 and 1, class 2 at 10 and 11, one class-2 point at 0.4 among class 1
  local e = tau.tensor{{0}, {1}, {10}, {11}, {0.4}}
  local y = tau.tensor({1, 1, 2, 2, 2}, "int32")
  -- k = 1: 0 and 1 see the stray (wrong), the stray sees 0 (wrong), 10 and 11 each other
  T.near(A.knn_accuracy(e, y, {k = 1}), 2 / 5, 1e-12)
  -- k = 2: 0 and 1 see one of each class, a tie the closer stray wins (wrong); 10 and 11 see
  -- each other and 1, a tie their partner wins (right); the stray sees 0 and 1 (wrong)
  T.near(A.knn_accuracy(e, y, {k = 2}), 2 / 5, 1e-12)
  T.near(A.knn_accuracy(tau.tensor{{0}, {1}, {10}, {11}}, tau.tensor({1, 1, 2, 2}, "int32"), {k = 1}), 1, 1e-12)
  local pts = {0, 1, 10, 11, 0.4}
  local lab = {1, 1, 2, 2, 2}
  local total = 0
  for i = 1, 5 do
    local sum, cnt = {0, 0}, {0, 0}
    for j = 1, 5 do
      if j ~= i then sum[lab[j]] = sum[lab[j]] + math.abs(pts[i] - pts[j]); cnt[lab[j]] = cnt[lab[j]] + 1 end
    end
    local a, b = sum[lab[i]] / cnt[lab[i]], sum[3 - lab[i]] / cnt[3 - lab[i]]
    total = total + (b - a) / math.max(a, b)
  end
  T.near(A.silhouette(e, y), total / 5, 1e-6)
  -- a point alone in its class scores 0
  T.near(A.silhouette(tau.tensor{{0}, {1}, {5}}, tau.tensor({1, 1, 2}, "int32")),
         ((5 - 1) / 5 + (4 - 1) / 4 + 0) / 3, 1e-6)
end)

T.test("tsne, knn_accuracy, silhouette refuse bad input, naming the function", function()
  local x, y = clusters(13, 2, 10, 3)
  local fn = "tau.analysis.tsne"
  T.raises(function() A.tsne(x, {perplexity = 30}) end, fn, "perplexity 30 needs more than 30 points, got 20")
  T.raises(function() A.tsne(x, {perplexity = -1}) end, fn, "perplexity must be a positive")
  T.raises(function() A.tsne(x, {dims = 0}) end, fn, "'dims' must be an integer in 1..64")
  T.raises(function() A.tsne(x, {dims = 4, exact = false, perplexity = 5}) end, fn, "Barnes-Hut embeds in at most 3")
  T.raises(function() A.tsne(x, {iters = 0}) end, fn, "'iters' must be an integer")
  T.raises(function() A.tsne(x, {exact = 1}) end, fn, "'exact' must be true, false or nil")
  T.raises(function() A.tsne(x, {perplexty = 5}) end, fn, "unknown option 'perplexty'")
  T.raises(function() A.tsne(x, {theta = -1, perplexity = 5}) end, fn, "theta must be")
  T.raises(function() A.tsne(x:view(-1), {}) end, fn, "x must be a float32 tensor (N, D)")
  T.raises(function() A.tsne(tau.zeros(0, 3)) end, fn, "x is empty")
  local bad = x:clone(); bad[3][2] = 0 / 0
  T.raises(function() A.tsne(bad, {perplexity = 5}) end, fn, "non-finite")
  local err = T.raises(function() A.tsne(x, {perplexity = 30}) end)
  T.ok(err:find("test_analysis.lua", 1, true), "the error points at the caller: " .. err)
  T.raises(function() A.knn_accuracy(x, y:narrow(1, 1, 5)) end, "tau.analysis.knn_accuracy", "5 labels for 20 points")
  T.raises(function() A.knn_accuracy(x, y, {k = 20}) end, "tau.analysis.knn_accuracy", "k must be in 1..19")
  T.raises(function() A.knn_accuracy(x, y, {kk = 2}) end, "tau.analysis.knn_accuracy", "unknown option 'kk'")
  T.raises(function() A.knn_accuracy(x, y:float()) end, "tau.analysis.knn_accuracy", "labels must be a 1-D int32")
  T.raises(function() A.knn_accuracy(x, y * 0) end, "tau.analysis.knn_accuracy", "out of range")
  T.raises(function() A.silhouette(x, tau.ones({20}):int()) end, "tau.analysis.silhouette", "at least 2 classes")
  T.raises(function() A.silhouette(bad, y) end, "tau.analysis.silhouette", "non-finite")
end)

-- ---------------------------------------------------------------- penultimate features

T.test("penultimate: the last layer's inputs, whose product with W and b gives the logits", function()
  local ok, ds = pcall(tau.data.fashion_mnist, {split = "test"})
  if not ok then T.skip("Fashion-MNIST not installed") end
  tau.manual_seed(5)
  local model = tau.models.cnn{hidden = 16}
  model:train()
  local r = A.penultimate(model, ds, {limit = 40, batch = 16})
  T.eq(r.features:size(1), 40); T.eq(r.features:size(2), 16)
  T.eq(r.labels:size(1), 40); T.eq(r.W:size(1), 10)
  T.close(r.features:matmul(r.W:t()) + r.b, r.logits, 1e-4)
  T.ok(model.training, "the model's mode is restored")
  T.eq(rawget(A.last_linear(model), "forward"), nil, "the hook is removed")
  local g = A.ce_gradient(r.features, r.W, r.labels, 1, {bias = r.b})
  T.eq(g.step:size(1), 40)
end)

T.test("gradient_stats: means of ce_gradient's parts and the input-gradient norm by autograd", function()
  local ok, ds = pcall(tau.data.fashion_mnist, {split = "test"})
  if not ok then T.skip("Fashion-MNIST not installed") end
  tau.manual_seed(6)
  local model = tau.models.cnn{hidden = 16}
  ds = ds:subset(24)
  local s = A.gradient_stats(model, ds, 2, {batch = 10})
  local r = A.penultimate(model, ds)
  local g = A.ce_gradient(r.features, r.W, r.labels, 2, {bias = r.b})
  T.eq(s.n, 24)
  T.near(s.step, g.step:mean():item(), 1e-6)
  T.near(s.angle, g.angle:mean():item(), 1e-6)
  -- each image's input gradient alone: in eval mode the batched one must give the same norms
  model:evaluate()
  local sum = 0
  for i = 1, 24 do
    local x, y = ds:get(i)
    x = x:view(1, 1, 28, 28):requires_grad()
    local gx = tau.grad(F.cross_entropy(model(x), tau.tensor({y}, "int32"), {tau = 2}), {x})[1]
    sum = sum + (gx * gx):sum():sqrt():item()
  end
  T.near(s.input_grad_norm, sum / 24, 1e-4)
  T.raises(function() A.gradient_stats(model, ds, 1, {limt = 3}) end, "tau.analysis.gradient_stats", "unknown option 'limt'")
end)

T.test("descent_path: the feature follows -grad, and a low tau heads for w_y - w_hardest", function()
  local W = tau.tensor{{0, 1}, {1, -0.3}, {-1, -0.5}}
  local p = A.descent_path({0.2, -0.6}, W, 1, 1, {lr = 0.1, steps = 3})
  T.eq(#p, 4)
  local g = A.ce_gradient(tau.tensor{{0.2, -0.6}}, W, tau.tensor({1}, "int32"), 1)
  T.near(p[2].f[1], 0.2 - 0.1 * g.grad[1][1], 1e-6)
  T.near(p[2].f[2], -0.6 - 0.1 * g.grad[1][2], 1e-6)
  local low = A.descent_path({0.2, -0.6}, W, 1, 0.05, {steps = 1})
  T.ok(low[1].angle < 1 and low[1].hardest_weight > 0.99, "low tau: along w_1 - w_2")
  -- the loss falls along the path
  local function loss(f) return F.cross_entropy(tau.tensor{f}:matmul(W:t()), tau.tensor({1}, "int32")):item() end
  T.ok(loss(p[4].f) < loss(p[1].f), "descent")
end)
