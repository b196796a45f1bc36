-- End to end: small models trained from scratch on generated, learnable data reach (near)
-- zero training loss. Seeded, so the runs are deterministic.
local T = ...
local nn, optim, models, F = tau.nn, tau.optim, tau.models, tau.F

-- Gaussian blobs: n points in d dimensions around k well-separated random centres.
local function blobs(n, d, k)
  local centres = tau.randn(k, d) * 3
  local y = tau.randint(1, k, {n})
  local x = centres:index_select(1, y) + tau.randn(n, d) * 0.5
  return x, y
end

-- 4 classes of 1 x s x s images: a bright horizontal bar, vertical bar, square or frame at a
-- random place, over noise.
local function pattern_images(n, s)
  local x = tau.randn(n, 1, s, s) * 0.3
  local y = tau.randint(1, 4, {n})
  local pos = tau.randint(1, s - 4, {n, 2})
  for i = 1, n do
    local img = x[i][1]
    local r, c = pos[i][1], pos[i][2]
    local k = y[i]
    if k == 1 then img:narrow(1, r, 1):narrow(2, c, 4):add_(1.5)
    elseif k == 2 then img:narrow(1, r, 4):narrow(2, c, 1):add_(1.5)
    elseif k == 3 then img:narrow(1, r, 3):narrow(2, c, 3):add_(1.5)
    else
      img:narrow(1, r, 4):narrow(2, c, 4):add_(1.5)
      img:narrow(1, r + 1, 2):narrow(2, c + 1, 2):sub_(1.5)
    end
  end
  return x, y
end

local function accuracy(model, x, y)
  return tau.no_grad(function()
    return model(x):argmax(2):eq(y):float():mean():item()
  end)
end

local function fit(model, opt, x, y, steps, batch)
  local n = x:size(1)
  local loss
  for s = 1, steps do
    local xb, yb = x, y
    if batch then
      local start = ((s - 1) * batch) % n + 1
      xb, yb = x:narrow(1, start, batch), y:narrow(1, start, batch)
    end
    opt:zero_grad()
    loss = F.cross_entropy(model(xb), yb)
    loss:backward()
    opt:step()
  end
  return loss:item()
end

T.test("an MLP fits Gaussian blobs (SGD with momentum)", function()
  tau.manual_seed(1)
  local x, y = blobs(256, 8, 5)
  local model = models.mlp{inputs = 8, hidden = {32, 32}, classes = 5}
  local opt = optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9})
  fit(model, opt, x, y, 300)
  local loss = tau.no_grad(function() return F.cross_entropy(model(x), y):item() end)
  T.ok(loss < 0.05, "training loss " .. loss)
  T.eq(accuracy(model, x, y), 1)
end)

T.test("the same seed gives the same training run", function()
  local function once()
    tau.manual_seed(7)
    local x, y = blobs(64, 4, 3)
    local model = models.mlp{inputs = 4, hidden = {16}, classes = 3}
    local opt = optim.Adam(model:parameters(), {lr = 0.01})
    return fit(model, opt, x, y, 30), model:parameters()[1]
  end
  local l1, p1 = once()
  local l2, p2 = once()
  T.eq(l1, l2)
  T.ok(p1:equal(p2))
end)

T.test("a CNN fits synthetic images (AdamW, cosine schedule)", function()
  tau.manual_seed(2)
  local x, y = pattern_images(256, 12)
  local model = models.cnn{channels = 1, image = 12, width = 8, hidden = 32, classes = 4}
  local opt = optim.AdamW(model:parameters(), {lr = 1e-2, weight_decay = 1e-4})
  local steps, batch = 240, 64
  local sched = optim.cosine(opt, {epochs = steps * batch // 256, steps_per_epoch = 256 // batch, warmup = 1})
  for s = 1, steps do
    local start = ((s - 1) * batch) % 256 + 1
    local xb, yb = x:narrow(1, start, batch), y:narrow(1, start, batch)
    opt:zero_grad()
    F.cross_entropy(model(xb), yb):backward()
    opt:step()
    sched:step()
  end
  model:evaluate()
  local loss = tau.no_grad(function() return F.cross_entropy(model(x), y):item() end)
  local acc = accuracy(model, x, y)
  T.ok(acc == 1 or loss < 0.05, string.format("training loss %.4f, accuracy %.4f", loss, acc))
end)

T.test("a small ViT fits synthetic images (Adam, clipped gradients)", function()
  tau.manual_seed(3)
  local x, y = pattern_images(128, 12)
  local model = models.vit{patch = 3, dim = 24, depth = 2, heads = 2, classes = 4, image = 12, channels = 1}
  local opt = optim.Adam(model:parameters(), {lr = 3e-3})
  local batch = 32
  for s = 1, 300 do
    local start = ((s - 1) * batch) % 128 + 1
    local xb, yb = x:narrow(1, start, batch), y:narrow(1, start, batch)
    opt:zero_grad()
    F.cross_entropy(model(xb), yb):backward()
    optim.clip_grad_norm(model:parameters(), 1.0)
    opt:step()
  end
  model:evaluate()
  local loss = tau.no_grad(function() return F.cross_entropy(model(x), y):item() end)
  local acc = accuracy(model, x, y)
  T.ok(acc == 1 or loss < 0.05, string.format("training loss %.4f, accuracy %.4f", loss, acc))
end)
